// One container: its configuration and limits (edited with If-Match), a
// live graph of its cgroup's CPU and memory, an exec box and its terminal
// in the page (xterm.js over the console WebSocket).
import { ApiError, call, can, getTagged, patchIfMatch } from '../api';
import { ConsoleHandle, openConsole } from '../console';
import { badge, bytes, h, when } from '../dom';
import { subscribe } from '../events';
import { go } from '../main';
import { busy, errorBox, errorText, field, loading, modal, notify, replace } from '../ui';
import { usageCard } from '../usage';
import { touchesGuest } from './common';
import { LIMITS, ctButtons, limitInputs, limitText, readLimits } from './containers';

export function containerView(main: HTMLElement, params: string[]): () => void {
  const name = params[0];
  const path = `/containers/${encodeURIComponent(name)}`;
  const info = h('div', {}, loading(`container ${name}`));
  const usageBox = h('section', { class: 'card wide', 'aria-label': 'Resource use' });
  const execBox = h('section', { class: 'card wide', 'aria-label': 'Run a command' });
  const consoleBox = h('section', { class: 'card console-card', 'aria-label': 'Console' });
  main.appendChild(h('p', { class: 'crumbs' }, h('a', { href: '/containers', 'data-link': true }, 'Containers'), ' / ', name));
  main.appendChild(info);
  main.appendChild(usageBox);
  main.appendChild(execBox);
  main.appendChild(consoleBox);
  let term: ConsoleHandle | null = null;
  let gone = 0;    // leaves a page whose resource was deleted (never once the user left it)
  let state = '';
  const usage = usageCard(usageBox, {
    cpuTitle: 'Container CPU (100 % = one host CPU)', memTitle: 'Container memory', memLine: 'in use',
    memCaption: (used, limit) => `Memory: ${bytes(used)} in use${limit ? ` of ${bytes(limit)}` : ' (no limit)'}`,
    idle: 'Shown while the container runs.',
  });
  const showUsage = (ct: any) => usage(ct.usage, (ct.memory_mib ?? 0) * 1048576);
  renderExec();

  async function load() {
    try {
      const { data: ct, etag } = await getTagged(path);
      const was = state;
      state = ct.state;
      const edit = can('operator') ? h('button', { type: 'button', 'data-action': 'edit' }, 'Edit') as HTMLButtonElement : null;
      edit?.addEventListener('click', () => editDialog(ct, etag, load));
      replace(info,
        h('div', { class: 'title' }, h('h1', {}, ct.name, ' ', h('span', { 'data-ct-state': ct.name }, badge(ct.state))),
          h('div', { class: 'actions' }, edit, ctButtons(ct, (deleted) => { if (deleted) go('/containers', true); }))),
        ct.description ? h('p', { class: 'desc' }, ct.description) : null,
        h('div', { class: 'grid' },
          h('section', { class: 'card' }, h('h2', {}, 'Configuration'),
            h('dl', { class: 'facts' },
              h('dt', {}, 'Image'), h('dd', {}, ct.image),
              h('dt', {}, 'Command'), h('dd', {}, ct.cmd ? h('code', {}, ct.cmd.join(' ')) : "the image's"),
              h('dt', {}, 'Environment'), h('dd', {}, (ct.env ?? []).length
                ? h('ul', { class: 'plain' }, ct.env.map((e: string) => h('li', {}, h('code', {}, e.replace(/=.*/s, '=…')))))
                : 'the image\u2019s'),
              h('dt', {}, 'PID'), h('dd', {}, ct.pid ? String(ct.pid) : '—'),
              h('dt', {}, 'Created'), h('dd', {}, when(ct.created)))),
          h('section', { class: 'card' }, h('h2', {}, 'Limits'),
            h('dl', { class: 'facts' }, LIMITS.flatMap(([key, label]) =>
              [h('dt', {}, label.replace(/ \(MiB\)$/, '')), h('dd', { 'data-limit': key }, limitText(ct, key))]))),
          h('section', { class: 'card' }, h('h2', {}, 'Network'),
            h('dl', { class: 'facts' },
              h('dt', {}, 'Network'), h('dd', {}, ct.network ?? 'none'),
              h('dt', {}, 'Address'), h('dd', { 'data-ct-address': ct.name }, ct.address ?? '—')))));
      if (was !== state) { renderConsole(); renderExec(); }
      showUsage(ct);
    } catch (e: any) {
      replace(info, errorBox(e));
      if (e?.status === 404 && main.isConnected) gone = window.setTimeout(() => go('/containers', true), 1500);
    }
  }

  function renderConsole() {
    const live = state === 'running' || state === 'paused';
    if (term && !live) { term.close(); term = null; }
    if (term) return;
    replace(consoleBox, h('h2', {}, 'Console'));
    if (!can('operator')) {
      consoleBox.appendChild(h('p', { class: 'muted' }, 'The console needs the operator role.'));
    } else if (!live) {
      consoleBox.appendChild(h('p', { class: 'muted' }, 'The container is not running.'));
    } else {
      const b = h('button', { type: 'button', 'data-action': 'console' }, 'Open console') as HTMLButtonElement;
      b.addEventListener('click', () => {
        b.remove();
        term = openConsole(consoleBox, `${path}/console`, name,
          'The console is closed (the container stopped, or another client holds it).');
      });
      consoleBox.appendChild(b);
    }
  }

  /* Runs one command (by /bin/sh -c, so pipes and $(( )) work) without a
   * terminal; shows its exit code and output as text. */
  function renderExec() {
    replace(execBox, h('h2', {}, 'Run a command'));
    if (!can('operator')) { execBox.appendChild(h('p', { class: 'muted' }, 'Running commands needs the operator role.')); return; }
    if (state !== 'running') {
      execBox.appendChild(h('p', { class: 'muted' }, state === 'paused' ? 'The container is paused: resume it to run commands.' : 'The container is not running.'));
      return;
    }
    const input = h('input', { name: 'exec', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. ps; df -h' }) as HTMLInputElement;
    const run = h('button', { type: 'submit', class: 'primary', 'data-action': 'exec' }, 'Run') as HTMLButtonElement;
    const result = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'exec-form' }, field('Command (run by /bin/sh -c)', input), run);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!input.value.trim()) { input.focus(); return; }
      try {
        const r = await busy(run, 'Running…', () => call('POST', `${path}/exec`, { cmd: ['/bin/sh', '-c', input.value] }));
        replace(result, h('p', { class: 'muted', 'data-exec': 'exit' }, `Exit code ${r.exit_code}`),
          h('pre', { class: 'output', 'data-exec': 'output', tabindex: 0 }, r.output || '(no output)'));
      } catch (e) { replace(result, errorBox(e)); }
    });
    execBox.appendChild(form);
    execBox.appendChild(result);
  }

  const poll = setInterval(async () => {
    if (state !== 'running' && state !== 'paused') return;
    try { showUsage(await call('GET', path)); } catch { /* load() reports errors */ }
  }, 3000);

  load();
  const unsub = subscribe((type, ev) => { if (touchesGuest('container', type, ev, name)) load(); });
  return () => { unsub(); clearInterval(poll); clearTimeout(gone); term?.close(); };
}

/* Limits (live on a running container) and description.  If-Match: a
 * change made meanwhile by someone else is not overwritten. */
function editDialog(ct: any, etag: string | null, done: () => void): void {
  modal(`Edit ${ct.name}`, (close) => {
    const desc = h('input', { name: 'description', maxlength: 1024, value: ct.description ?? '' }) as HTMLInputElement;
    const limits = limitInputs(ct);
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save') as HTMLButtonElement;
    const form = h('form', { class: 'dialog-form', novalidate: true },
      field('Description', desc),
      h('div', { class: 'row' }, LIMITS.map(([, label], i) => field(label, limits[i], i ? undefined : '0 = no limit'))),
      ct.state === 'running' ? h('p', { class: 'hint' }, 'The running container\u2019s limits change at once.') : null,
      msg, h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), save));
    const fail = (text: string, input?: HTMLElement) => { msg.textContent = text; msg.hidden = false; input?.focus(); };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.hidden = true;
      const lim = readLimits(limits);
      if ('error' in lim) return fail(lim.error, lim.input);
      const body: any = {};
      if (desc.value !== (ct.description ?? '')) body.description = desc.value;
      for (const [k, v] of Object.entries(lim.body)) if (v !== (ct[k] ?? 0)) body[k] = v;
      if (!Object.keys(body).length) { close(); return; }
      try {
        await busy(save, 'Saving…', () => patchIfMatch(`/containers/${encodeURIComponent(ct.name)}`, body, etag));
        close();
        notify(`Saved ${ct.name}.`);
        done();
      } catch (e) {
        fail(e instanceof ApiError && e.status === 412
          ? 'The container was changed meanwhile: close this dialog and edit again.' : errorText(e));
      }
    });
    return form;
  });
}
