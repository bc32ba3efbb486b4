// One VM: its configuration, disks and NICs, actions, a live graph of what
// its engine process uses, and its serial console in the page (xterm.js
// over the console WebSocket).
import { ApiError, call, can, getTagged, patchIfMatch } from '../api';
import { ConsoleHandle, openConsole } from '../console';
import { badge, bytes, h, table, when } from '../dom';
import { subscribe } from '../events';
import { go } from '../main';
import { busy, errorBox, errorText, field, loading, modal, notify, replace } from '../ui';
import { usageCard } from '../usage';
import { touchesGuest } from './common';
import { actionButtons } from './vms';

export function vmView(main: HTMLElement, params: string[]): () => void {
  const name = params[0];
  const info = h('div', {}, loading(`VM ${name}`));
  const usageBox = h('section', { class: 'card wide', 'aria-label': 'Resource use' });
  const consoleBox = h('section', { class: 'card console-card', 'aria-label': 'Serial console' });
  main.appendChild(h('p', { class: 'crumbs' }, h('a', { href: '/vms', 'data-link': true }, 'VMs'), ' / ', name));
  main.appendChild(info);
  main.appendChild(usageBox);
  main.appendChild(consoleBox);
  let term: ConsoleHandle | null = null;
  let gone = 0;    // leaves a page whose resource was deleted (never once the user left it)
  let state = '';

  async function load() {
    try {
      const { data: vm, etag } = await getTagged(`/vms/${encodeURIComponent(name)}`);
      state = vm.state;
      const edit = can('operator') ? h('button', { type: 'button', 'data-action': 'edit' }, 'Edit') as HTMLButtonElement : null;
      edit?.addEventListener('click', () => editDialog(vm, etag, load));
      const boot = vm.boot ?? {};
      replace(info,
        h('div', { class: 'title' }, h('h1', {}, vm.name, ' ', h('span', { 'data-vm-state': vm.name }, badge(vm.state))),
          h('div', { class: 'actions' }, edit, actionButtons(vm, () => { if (vm.state === 'stopped') load(); }))),
        vm.description ? h('p', { class: 'desc' }, vm.description) : null,
        h('div', { class: 'grid' },
          h('section', { class: 'card' }, h('h2', {}, 'Configuration'),
            h('dl', { class: 'facts' },
              h('dt', {}, 'vCPUs'), h('dd', {}, String(vm.vcpus)),
              h('dt', {}, 'Memory'), h('dd', {}, bytes(vm.memory)),
              h('dt', {}, 'Engine'), h('dd', {}, `${vm.engine}${vm.running_engine ? ` (running on ${vm.running_engine})` : ''}`),
              h('dt', {}, 'Boot'), h('dd', {}, boot.volume ? `volume ${boot.volume}` : boot.image ? `image ${boot.image}` : `kernel ${boot.kernel ?? ''}`),
              boot.initrd ? [h('dt', {}, 'Initrd'), h('dd', {}, boot.initrd)] : null,
              boot.cmdline ? [h('dt', {}, 'Command line'), h('dd', {}, h('code', {}, boot.cmdline))] : null,
              h('dt', {}, 'PID'), h('dd', {}, vm.pid ? String(vm.pid) : '—'),
              h('dt', {}, 'Created'), h('dd', {}, when(vm.created)))),
          h('section', { class: 'card' }, h('h2', {}, 'Disks'),
            table<{ d: string }>((vm.disks ?? []).map((d: string) => ({ d })), [{ title: 'Volume', cell: (r) => r.d }], 'No disks.')),
          h('section', { class: 'card' }, h('h2', {}, 'NICs'),
            table(vm.nics ?? [], [
              { title: 'Network', cell: (n: any) => n.network },
              { title: 'Address', cell: (n: any) => n.address ?? '—' },
              { title: 'MAC', cell: (n: any) => n.mac ?? '—' },
            ], 'No NICs.'))));
      renderConsole();
      showUsage(vm);
    } catch (e: any) {
      replace(info, errorBox(e));
      if (e?.status === 404 && main.isConnected) gone = window.setTimeout(() => go('/vms', true), 1500);
    }
  }

  function renderConsole() {
    const live = state === 'running' || state === 'paused';
    if (term && !live) { term.close(); term = null; }
    if (term) return;
    replace(consoleBox, h('h2', {}, 'Serial console'));
    if (!can('operator')) {
      consoleBox.appendChild(h('p', { class: 'muted' }, 'The console needs the operator role.'));
    } else if (!live) {
      consoleBox.appendChild(h('p', { class: 'muted' }, 'The VM is not running.'));
    } else {
      const b = h('button', { type: 'button', 'data-action': 'console' }, 'Open console') as HTMLButtonElement;
      b.addEventListener('click', () => {
        b.remove();
        term = openConsole(consoleBox, `/vms/${encodeURIComponent(name)}/console`, name,
          'The console is closed (the VM stopped, or another client holds it).');
      });
      consoleBox.appendChild(b);
    }
  }

  const usage = usageCard(usageBox, {
    cpuTitle: 'Engine CPU (100 % = one host CPU)', memTitle: 'Engine memory', memLine: 'resident',
    memCaption: (used, limit) => `Memory: ${bytes(used)} resident of ${bytes(limit)}`,
    idle: 'Shown while the VM runs.',
  });
  const showUsage = (vm: any) => usage(vm.usage, vm.memory ?? 0);
  const poll = setInterval(async () => {
    if (state !== 'running' && state !== 'paused') return;
    try { showUsage(await call('GET', `/vms/${encodeURIComponent(name)}`)); } catch { /* load() reports errors */ }
  }, 3000);

  load();
  const unsub = subscribe((type, ev) => { if (touchesGuest('vm', type, ev, name)) load(); });
  return () => { unsub(); clearInterval(poll); clearTimeout(gone); term?.close(); };
}

/* Description any time; vCPUs and memory while stopped (the server says so
 * too).  If-Match: a change made meanwhile by someone else is not overwritten. */
function editDialog(vm: any, etag: string | null, done: () => void): void {
  modal(`Edit ${vm.name}`, (close) => {
    const stopped = vm.state === 'stopped';
    const desc = h('input', { name: 'description', maxlength: 200, value: vm.description ?? '' }) as HTMLInputElement;
    const vcpus = h('input', { name: 'vcpus', type: 'number', min: 1, max: 64, value: vm.vcpus, disabled: !stopped }) as HTMLInputElement;
    const memory = h('input', { name: 'memory', value: `${Math.round(vm.memory / 1048576)}M`, disabled: !stopped,
      pattern: '[0-9]+[KMGT]?' }) as HTMLInputElement;
    const hint = stopped ? undefined : 'Stop the VM to change this';
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save') as HTMLButtonElement;
    const form = h('form', { class: 'dialog-form', novalidate: true },
      field('Description', desc), h('div', { class: 'row' }, field('vCPUs', vcpus, hint), field('Memory', memory, hint ?? 'e.g. 512M or 2G')),
      msg, h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), save));
    const fail = (text: string, input?: HTMLElement) => { msg.textContent = text; msg.hidden = false; input?.focus(); };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.hidden = true;
      const body: any = {};
      if (desc.value !== (vm.description ?? '')) body.description = desc.value;
      if (stopped) {
        const n = Number(vcpus.value);
        if (!Number.isInteger(n) || n < 1 || n > 64) return fail('vCPUs must be a whole number from 1 to 64.', vcpus);
        if (!/^[0-9]+[KMGT]?$/.test(memory.value)) return fail('Memory is a size such as 512M or 2G.', memory);
        if (n !== vm.vcpus) body.vcpus = n;
        if (memory.value !== `${Math.round(vm.memory / 1048576)}M`) body.memory = memory.value;
      }
      if (!Object.keys(body).length) { close(); return; }
      try {
        await busy(save, 'Saving…', () => patchIfMatch(`/vms/${encodeURIComponent(vm.name)}`, body, etag));
        close();
        notify(`Saved ${vm.name}.`);
        done();
      } catch (e) {
        fail(e instanceof ApiError && e.status === 412
          ? 'The VM was changed meanwhile: close this dialog and edit again.' : errorText(e));
      }
    });
    return form;
  });
}
