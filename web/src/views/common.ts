// A simple resource page: a list loaded from the API (reloaded on events),
// a create form in a dialog and a delete action, shown only to roles that
// may use them.
import { ApiError, call, can, waitOp } from '../api';
import { Column, h, table } from '../dom';
import { subscribe } from '../events';
import { busy, confirmAction, errorBox, errorText, field, loading, modal, notify, replace } from '../ui';

export interface Input { name: string; label: string; hint?: string; type?: string; required?: boolean; options?: string[]; value?: string; }

export function listSection<T>(title: string, what: string, fetch: () => Promise<T[]>, cols: Column<T>[],
                               create?: { label: string; ok?: string; inputs: Input[]; submit: (v: Record<string, string>) => Promise<any> }) {
  const body = h('div', {}, loading(what));
  const head = h('div', { class: 'title' }, h('h2', {}, title));
  const section = h('section', { class: 'card wide', 'aria-label': title }, head, body);
  async function load() {
    try { replace(body, table(await fetch(), cols, `No ${what} yet.`)); } catch (e) { replace(body, errorBox(e)); }
  }
  if (create) {
    const b = h('button', { type: 'button', class: 'primary', 'data-action': 'create-' + what.replace(/\s+/g, '-') }, create.label) as HTMLButtonElement;
    b.addEventListener('click', () => formDialog(create.label, create.inputs, create.submit, load, create.ok));
    head.appendChild(b);
  }
  load();
  const unsub = subscribe((type) => { if (type !== 'operation') load(); });
  return { section, load, unsub };
}

export function formDialog(title: string, inputs: Input[], submit: (v: Record<string, string>) => Promise<any>, done: () => void,
                           okLabel = 'Create') {
  modal(title, (close) => {
    const els = inputs.map((i) => i.options
      ? h('select', { name: i.name }, i.options.map((o) => h('option', { value: o }, o))) as HTMLSelectElement
      : h('input', { name: i.name, type: i.type ?? 'text', required: i.required, value: i.value, autocomplete: 'off' }) as HTMLInputElement);
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const ok = h('button', { type: 'submit', class: 'primary' }, okLabel) as HTMLButtonElement;
    const form = h('form', { class: 'dialog-form' }, inputs.map((i, k) => field(i.label, els[k], i.hint)), msg,
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), ok));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v: Record<string, string> = {};
      inputs.forEach((i, k) => { v[i.name] = els[k].value; });
      msg.hidden = true;
      try {
        const r = await busy(ok, 'Working…', async () => {
          const res = await submit(v);
          if (res && res.id && res.status) await waitOp(res);
          return res;
        });
        close();
        notify(`${title}: done.`);
        done();
        return r;
      } catch (e) {
        msg.textContent = e instanceof ApiError ? e.message : errorText(e);
        msg.hidden = false;
      }
    });
    return form;
  });
}

export function deleteButton(what: string, path: string, done: () => void): HTMLElement {
  const b = h('button', { type: 'button', class: 'danger small', 'data-action': 'delete' }, 'Delete') as HTMLButtonElement;
  b.addEventListener('click', async () => {
    if (!(await confirmAction(`Delete ${what}?`, 'Delete'))) return;
    try {
      await busy(b, 'Deleting…', async () => {
        const res = await call('DELETE', path);
        if (res && res.id && res.status) await waitOp(res);
      });
      notify(`Deleted ${what}.`);
    } catch (e) { notify(`Delete ${what}: ${errorText(e)}`, 'error'); }
    done();
  });
  return b;
}

/* True for an event that may change guest `name` of this kind (any of them if ''). */
export function touchesGuest(kind: 'vm' | 'container', type: string, ev: any, name = ''): boolean {
  const m = ev?.metadata ?? {};
  const path = `/${kind}s/`;
  if (type === 'overflow') return true;
  if (type === 'lifecycle') return String(m.action).startsWith(`${kind}.`) && (!name || m.target === name);
  if (type === 'operation')
    return (m.resources ?? []).some((r: string) => name ? String(r).endsWith(path + name) : String(r).includes(path));
  return false;
}

/* A page listing guests (VMs or containers): its title, a create button for
 * operators, and a table reloaded (debounced) on every event touching them.
 * Returns the page's unsubscribe. */
export function guestList<T>(main: HTMLElement, o: {
  kind: 'vm' | 'container'; title: string; what: string; createLabel: string;
  create: (done: () => void) => void; fetch: () => Promise<T[]>; cols: (load: () => void) => Column<T>[];
}): () => void {
  const list = h('div', {}, loading(o.what));
  const head = h('div', { class: 'title' }, h('h1', {}, o.title));
  if (can('operator')) {
    const b = h('button', { type: 'button', class: 'primary', 'data-action': `create-${o.kind}` }, o.createLabel) as HTMLButtonElement;
    b.addEventListener('click', () => o.create(load));
    head.appendChild(b);
  }
  main.appendChild(head);
  main.appendChild(list);
  let timer = 0;
  async function load() {
    try { replace(list, table(await o.fetch(), o.cols(load), `No ${o.what} yet.`)); } catch (e) { replace(list, errorBox(e)); }
  }
  load();
  const unsub = subscribe((type, ev) => {
    if (!touchesGuest(o.kind, type, ev)) return;
    clearTimeout(timer);
    timer = window.setTimeout(load, 150);
  });
  return () => { unsub(); clearTimeout(timer); };
}
