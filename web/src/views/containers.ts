// The container list: live state from the event stream, the create dialog
// (image picked from the store, command, env, limits, network) and the
// lifecycle actions, each confirmed where it loses work and each showing
// that it waits.
import { ApiError, call, can, waitOp } from '../api';
import { badge, h } from '../dom';
import { busy, confirmAction, errorText, field, modal, notify, replace } from '../ui';
import { guestList } from './common';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/* The actions a container in `state` can take (the server checks again);
 * the last field: ask first. */
const ACTIONS: [string, string, string[], boolean][] = [
  ['start', 'Start', ['stopped'], false],
  ['pause', 'Pause', ['running'], false],
  ['resume', 'Resume', ['paused'], false],
  ['stop', 'Stop', ['running', 'paused'], true],
  ['kill', 'Kill', ['running', 'paused'], true],
];

/* The limits the server takes (0 = none): key, label, maximum, minimum when set. */
export const LIMITS: [string, string, number, number][] = [
  ['memory_mib', 'Memory (MiB)', 1024 * 1024, 4], ['cpus', 'CPUs', 1024, 1], ['pids', 'Processes', 4194304, 1],
];

export function limitText(ct: any, key: string): string {
  const v = ct[key] ?? 0;
  if (!v) return 'no limit';
  return key === 'memory_mib' ? `${v} MiB` : String(v);
}

/* The limit inputs' values, checked; an error message names the first bad one. */
export function readLimits(inputs: HTMLInputElement[]): { body: Record<string, number> } | { error: string; input: HTMLInputElement } {
  const body: Record<string, number> = {};
  for (let i = 0; i < LIMITS.length; i++) {
    const [key, label, max, min] = LIMITS[i];
    const raw = inputs[i].value.trim();
    const n = raw === '' ? 0 : Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max || (n && n < min))
      return { error: `${label}: 0 (no limit) or a whole number from ${min} to ${max}.`, input: inputs[i] };
    body[key] = n;
  }
  return { body };
}

export function limitInputs(ct?: any): HTMLInputElement[] {
  return LIMITS.map(([key, , max]) => h('input', { name: key, type: 'number', min: 0, max, value: ct?.[key] ?? 0 }) as HTMLInputElement);
}

export async function ctAction(name: string, action: string, btn: HTMLButtonElement | null): Promise<void> {
  const [, label, , ask] = ACTIONS.find((a) => a[0] === action) ?? [action, action, [], true];
  if (ask && !(await confirmAction(`${label} the container “${name}”?`, label))) return;
  try {
    await busy(btn, `${label}…`, async () => {
      const op = await call('POST', `/containers/${encodeURIComponent(name)}/${action}`, action === 'stop' ? { timeout: 10 } : {});
      await waitOp(op);
    });
    notify(`${label}: ${name} done.`);
  } catch (e) { notify(`${label} ${name}: ${errorText(e)}`, 'error'); }
}

export async function ctDelete(name: string, btn: HTMLButtonElement | null): Promise<boolean> {
  if (!(await confirmAction(`Delete the container “${name}”? What it wrote goes with it.`, 'Delete'))) return false;
  try {
    await busy(btn, 'Deleting…', () => call('DELETE', `/containers/${encodeURIComponent(name)}`));
    notify(`Deleted ${name}.`);
    return true;
  } catch (e) { notify(`Delete ${name}: ${errorText(e)}`, 'error'); return false; }
}

export function ctButtons(ct: any, after: (deleted: boolean) => void): HTMLElement | null {
  if (!can('operator')) return null;
  const box = h('div', { class: 'actions' });
  for (const [action, label, states] of ACTIONS) {
    if (!states.includes(ct.state)) continue;
    const b = h('button', { type: 'button', 'data-action': action, class: action === 'kill' ? 'danger' : null }, label) as HTMLButtonElement;
    b.addEventListener('click', () => ctAction(ct.name, action, b).then(() => after(false)));
    box.appendChild(b);
  }
  if (ct.state === 'stopped') {
    const b = h('button', { type: 'button', class: 'danger', 'data-action': 'delete' }, 'Delete') as HTMLButtonElement;
    b.addEventListener('click', () => ctDelete(ct.name, b).then(after));
    box.appendChild(b);
  }
  return box;
}

export function containersView(main: HTMLElement): () => void {
  return guestList<any>(main, {
    kind: 'container', title: 'Containers', what: 'containers', createLabel: 'Create container', create: createDialog,
    fetch: () => call('GET', '/containers'),
    cols: (load) => [
      { title: 'Name', cell: (c) => h('a', { href: `/containers/${c.name}`, 'data-link': true }, c.name) },
      { title: 'State', cell: (c) => h('span', { 'data-ct-state': c.name }, badge(c.state)) },
      { title: 'Image', cell: (c) => c.image },
      { title: 'Address', cell: (c) => c.address ? `${c.address} (${c.network})` : '—' },
      { title: 'Memory', cell: (c) => limitText(c, 'memory_mib') },
      { title: 'Description', cell: (c) => h('span', { class: 'desc' }, c.description ?? '') },
      { title: 'Actions', cell: (c) => ctButtons(c, load) },
    ],
  });
}

/* A command line as words: spaces separate them, quotes ('…' or "…") keep
 * spaces inside one; no other shell syntax (use sh -c '…' for that). */
export function splitWords(s: string): string[] | null {
  const words: string[] = [];
  let cur = '', inWord = false, quote = '';
  for (const ch of s) {
    if (quote) { if (ch === quote) quote = ''; else cur += ch; continue; }
    if (ch === '"' || ch === "'") { quote = ch; inWord = true; continue; }
    if (/\s/.test(ch)) { if (inWord) words.push(cur); cur = ''; inWord = false; continue; }
    cur += ch; inWord = true;
  }
  if (quote) return null;
  if (inWord) words.push(cur);
  return words;
}

function createDialog(done: () => void): void {
  modal('Create a container', (close) => {
    const name = h('input', { name: 'name', required: true, pattern: NAME_RE.source, maxlength: 63, autocomplete: 'off' }) as HTMLInputElement;
    const image = h('select', { name: 'image', required: true }, h('option', { value: '' }, 'Loading images…')) as HTMLSelectElement;
    const cmd = h('input', { name: 'cmd', placeholder: "the image's own command", autocomplete: 'off' }) as HTMLInputElement;
    const env = h('textarea', { name: 'env', rows: 3, placeholder: 'NAME=VALUE, one a line', spellcheck: 'false' }) as HTMLTextAreaElement;
    const limits = limitInputs();
    const net = h('select', { name: 'network' }, h('option', { value: '' }, 'none')) as HTMLSelectElement;
    const desc = h('input', { name: 'description', maxlength: 1024 }) as HTMLInputElement;
    call<any[]>('GET', '/images').then((all) => {
      const imgs = all.filter((i) => i.type === 'container');    /* VM images boot VMs */
      replace(image, h('option', { value: '' }, imgs.length ? 'Pick an image' : 'No images: import one first'));
      for (const i of imgs) image.appendChild(h('option', { value: i.name }, i.name));
      if (imgs.length === 1) image.value = imgs[0].name;
    }).catch((e) => replace(image, h('option', { value: '' }, `cannot load images: ${errorText(e)}`)));
    call<any[]>('GET', '/networks').then((ns) => {
      for (const n of ns) net.appendChild(h('option', { value: n.name }, `${n.name} (${n.subnet})`));
    }).catch(() => net.appendChild(h('option', { value: '', disabled: true }, 'cannot load networks')));
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create') as HTMLButtonElement;
    const form = h('form', { class: 'dialog-form', novalidate: true },
      field('Name', name, 'Lower-case letters, digits and “-”'), field('Image', image),
      field('Command', cmd, "Optional: replaces the image's command; words split at spaces, quotes keep them"),
      field('Environment', env, 'Optional: NAME=VALUE, one a line; added to the image\u2019s'),
      h('div', { class: 'row' }, LIMITS.map(([, label], i) => field(label, limits[i], i ? undefined : '0 = no limit'))),
      field('Network', net, 'Optional: a veth on that network with the next free address'),
      field('Description', desc),
      msg, h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), submit));
    const fail = (text: string, input?: HTMLElement) => { msg.textContent = text; msg.hidden = false; input?.focus(); };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      msg.hidden = true;
      if (!NAME_RE.test(name.value)) return fail('The name must match ^[a-z0-9][a-z0-9-]{0,62}$.', name);
      if (!image.value) return fail('Pick the image to make the container from.', image);
      const body: any = { name: name.value, image: image.value };
      if (cmd.value.trim()) {
        const words = splitWords(cmd.value);
        if (!words || !words.length) return fail('The command has an unclosed quote.', cmd);
        body.cmd = words;
      }
      const vars = env.value.split('\n').map((l) => l.trim()).filter(Boolean);
      const bad = vars.find((v) => !/^[^=\s][^=]*=/.test(v));
      if (bad !== undefined) return fail(`Each environment line is NAME=VALUE, not “${bad}”.`, env);
      if (vars.length) body.env = vars;
      const lim = readLimits(limits);
      if ('error' in lim) return fail(lim.error, lim.input);
      for (const [k, v] of Object.entries(lim.body)) if (v) body[k] = v;
      if (net.value) body.network = net.value;
      if (desc.value) body.description = desc.value;
      try {
        await busy(submit, 'Creating…', () => call('POST', '/containers', body));
        close();
        notify(`Created ${body.name}.`);
        done();
      } catch (e) { fail(e instanceof ApiError ? e.message : errorText(e)); }
    });
    return form;
  });
}
