// The VM list: live state from the event stream, the create dialog and the
// lifecycle actions (each confirmed, each showing that it waits).
import { ApiError, call, can, waitOp } from '../api';
import { badge, bytes, h } from '../dom';
import { busy, confirmAction, errorText, field, modal, notify } from '../ui';
import { guestList } from './common';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/* The actions a VM in `state` can take; the server checks again. */
const ACTIONS: [string, string, string[]][] = [
  ['start', 'Start', ['stopped']],
  ['shutdown', 'Shut down', ['running']],
  ['stop', 'Stop', ['running', 'paused', 'starting', 'stopping']],
  ['pause', 'Pause', ['running']],
  ['resume', 'Resume', ['paused']],
  ['restart', 'Restart', ['running']],
];

export async function vmAction(name: string, action: string, btn: HTMLButtonElement | null): Promise<void> {
  const label = ACTIONS.find((a) => a[0] === action)?.[1] ?? action;
  if (action !== 'start' && action !== 'resume' &&
      !(await confirmAction(`${label} the VM “${name}”?`, label))) return;
  try {
    await busy(btn, `${label}…`, async () => {
      const path = `/vms/${encodeURIComponent(name)}/${action}`;
      const op = await call('POST', path, action === 'shutdown' ? { timeout: 60, force: true } : {});
      await waitOp(op);
    });
    notify(`${label}: ${name} done.`);
  } catch (e) { notify(`${label} ${name}: ${errorText(e)}`, 'error'); }
}

export async function vmDelete(name: string, btn: HTMLButtonElement | null): Promise<boolean> {
  if (!(await confirmAction(`Delete the VM “${name}”? Its disks stay in their pool.`, 'Delete'))) return false;
  try {
    await busy(btn, 'Deleting…', () => call('DELETE', `/vms/${encodeURIComponent(name)}`));
    notify(`Deleted ${name}.`);
    return true;
  } catch (e) { notify(`Delete ${name}: ${errorText(e)}`, 'error'); return false; }
}

export function actionButtons(vm: any, after: () => void): HTMLElement | null {
  if (!can('operator')) return null;
  const box = h('div', { class: 'actions' });
  for (const [action, label, states] of ACTIONS) {
    if (!states.includes(vm.state)) continue;
    const b = h('button', { type: 'button', 'data-action': action }, label) as HTMLButtonElement;
    b.addEventListener('click', () => vmAction(vm.name, action, b).then(after));
    box.appendChild(b);
  }
  if (vm.state === 'stopped') {
    const b = h('button', { type: 'button', class: 'danger', 'data-action': 'delete' }, 'Delete') as HTMLButtonElement;
    b.addEventListener('click', () => vmDelete(vm.name, b).then(after));
    box.appendChild(b);
  }
  return box;
}

export function vmsView(main: HTMLElement): () => void {
  return guestList<any>(main, {
    kind: 'vm', title: 'Virtual machines', what: 'VMs', createLabel: 'Create VM', create: createDialog,
    fetch: () => call('GET', '/vms'),
    cols: (load) => [
      { title: 'Name', cell: (v) => h('a', { href: `/vms/${v.name}`, 'data-link': true }, v.name) },
      { title: 'State', cell: (v) => h('span', { 'data-vm-state': v.name }, badge(v.state)) },
      { title: 'vCPUs', cell: (v) => String(v.vcpus) },
      { title: 'Memory', cell: (v) => bytes(v.memory) },
      { title: 'Description', cell: (v) => h('span', { class: 'desc' }, v.description ?? '') },
      { title: 'Actions', cell: (v) => actionButtons(v, load) },
    ],
  });
}

function createDialog(done: () => void): void {
  modal('Create a VM', (close) => {
    const name = h('input', { name: 'name', required: true, pattern: NAME_RE.source, maxlength: 63, autocomplete: 'off' }) as HTMLInputElement;
    const desc = h('input', { name: 'description', maxlength: 200 }) as HTMLInputElement;
    const vcpus = h('input', { name: 'vcpus', type: 'number', min: 1, max: 64, value: 1, required: true }) as HTMLInputElement;
    const memory = h('input', { name: 'memory', value: '256M', required: true, pattern: '[0-9]+[KMGT]?' }) as HTMLInputElement;
    const engine = h('select', { name: 'engine' }, ['auto', 'qemu', 'kvm'].map((e) => h('option', { value: e }, e))) as HTMLSelectElement;
    // Host paths are for admins (corrald refuses them to others): offered to admins only.
    const bootKind = h('select', { name: 'boot' }, h('option', { value: 'image' }, 'VM image'),
      can('admin') ? h('option', { value: 'kernel' }, 'Kernel + initrd (host paths)') : null,
      h('option', { value: 'volume' }, 'Disk volume')) as HTMLSelectElement;
    const image = h('select', { name: 'image' }) as HTMLSelectElement;
    call('GET', '/images').then((is: any[]) => {
      const vmImages = is.filter((i) => i.type === 'vm');
      for (const i of vmImages) image.appendChild(h('option', { value: i.name }, i.cmdline ? `${i.name} (${i.cmdline})` : i.name));
      if (!vmImages.length) image.appendChild(h('option', { value: '', disabled: true }, 'no VM images: import one in Images'));
    }).catch(() => image.appendChild(h('option', { value: '', disabled: true }, 'cannot load images')));
    const kernel = h('input', { name: 'kernel', placeholder: '/path/to/vmlinuz' }) as HTMLInputElement;
    const initrd = h('input', { name: 'initrd', placeholder: '/path/to/initrd (optional)' }) as HTMLInputElement;
    const cmdline = h('input', { name: 'cmdline', placeholder: 'the image\u2019s own' }) as HTMLInputElement;
    const volume = h('input', { name: 'volume', placeholder: 'POOL/VOLUME' }) as HTMLInputElement;
    const disks = h('input', { name: 'disks', placeholder: 'POOL/VOLUME, …' }) as HTMLInputElement;
    const nets = h('select', { name: 'networks', multiple: true, size: 3 }) as HTMLSelectElement;
    call('GET', '/networks').then((ns: any[]) => {
      for (const n of ns) nets.appendChild(h('option', { value: n.name }, `${n.name} (${n.subnet})`));
    }).catch(() => nets.appendChild(h('option', { disabled: true }, 'cannot load networks')));
    const imageBox = h('div', {}, field('Image', image, 'A kernel, initrd and command line imported in Images'));
    const kernelBox = h('div', { hidden: true }, field('Kernel', kernel, 'On the host, under a directory corrald allows (--host-path-allow)'),
      field('Initrd', initrd));
    const cmdlineBox = h('div', {}, field('Command line', cmdline, 'Empty: the image\u2019s own (a kernel gets none)'));
    const volumeBox = h('div', { hidden: true }, field('Boot volume', volume, 'A volume of a pool, e.g. p1/root'));
    bootKind.addEventListener('change', () => {
      imageBox.hidden = bootKind.value !== 'image';
      kernelBox.hidden = bootKind.value !== 'kernel';
      cmdlineBox.hidden = bootKind.value === 'volume';
      volumeBox.hidden = bootKind.value !== 'volume';
      if (bootKind.value === 'kernel' && !cmdline.value) cmdline.value = 'console=ttyS0';
    });
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create') as HTMLButtonElement;
    const form = h('form', { class: 'dialog-form', novalidate: true },
      field('Name', name, 'Lower-case letters, digits and “-”'), field('Description', desc),
      h('div', { class: 'row' }, field('vCPUs', vcpus), field('Memory', memory, 'e.g. 256M or 2G'), field('Engine', engine)),
      field('Boot from', bootKind), imageBox, kernelBox, cmdlineBox, volumeBox,
      field('Extra disks', disks, 'Comma-separated POOL/VOLUME'), field('Networks', nets, 'Ctrl-click to pick several'),
      msg, h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), submit));
    const fail = (text: string, input?: HTMLElement) => {
      msg.textContent = text;
      msg.hidden = false;
      input?.focus();
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.hidden = true;
      if (!NAME_RE.test(name.value)) return fail('The name must match ^[a-z0-9][a-z0-9-]{0,62}$.', name);
      const n = Number(vcpus.value);
      if (!Number.isInteger(n) || n < 1 || n > 64) return fail('vCPUs must be a whole number from 1 to 64.', vcpus);
      if (!/^[0-9]+[KMGT]?$/.test(memory.value)) return fail('Memory is a size such as 256M or 2G.', memory);
      const body: any = { name: name.value, vcpus: n, memory: memory.value, engine: engine.value };
      if (desc.value) body.description = desc.value;
      if (bootKind.value === 'image') {
        if (!image.value) return fail('Pick a VM image (import one in Images first).', image);
        body.boot = { image: image.value };
        if (cmdline.value) body.boot.cmdline = cmdline.value;
      } else if (bootKind.value === 'kernel') {
        if (!kernel.value.startsWith('/')) return fail('The kernel is an absolute path on the host.', kernel);
        body.boot = { kernel: kernel.value };
        if (initrd.value) body.boot.initrd = initrd.value;
        if (cmdline.value) body.boot.cmdline = cmdline.value;
      } else {
        if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(volume.value)) return fail('The boot volume is POOL/VOLUME.', volume);
        body.boot = { volume: volume.value };
      }
      const d = disks.value.split(',').map((s) => s.trim()).filter(Boolean);
      if (d.length) body.disks = d;
      const picked = Array.from(nets.selectedOptions).map((o) => o.value);
      if (picked.length) body.nics = picked.map((network) => ({ network }));
      try {
        await busy(submit, 'Creating…', () => call('POST', '/vms', body));
        close();
        notify(`Created ${body.name}.`);
        done();
      } catch (e) { fail(e instanceof ApiError ? e.message : errorText(e)); }
    });
    return form;
  });
}
