// Shared pieces of the views: messages, waiting states, dialogs.
import { ApiError } from './api';
import { clear, h } from './dom';

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.status ? `${e.message} (${e.status} ${e.code})` : e.message;
  return e instanceof Error ? e.message : String(e);
}

export function errorBox(e: unknown): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, errorText(e));
}

export function loading(what: string): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, `Loading ${what}…`);
}

/* A toast-like line at the top of the page: errors and finished actions. */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const bar = document.getElementById('notices');
  if (!bar) return;
  const n = h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, text,
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => n.remove() }, '×'));
  bar.appendChild(n);
  if (kind === 'ok') setTimeout(() => n.remove(), 6000);
}

/* Runs an action with its button showing that it waits. */
export async function busy<T>(btn: HTMLButtonElement | null, label: string, fn: () => Promise<T>): Promise<T> {
  const old = btn?.textContent;
  if (btn) { btn.disabled = true; btn.textContent = label; btn.classList.add('waiting'); }
  try { return await fn(); } finally {
    if (btn) { btn.disabled = false; btn.textContent = old ?? ''; btn.classList.remove('waiting'); }
  }
}

/* A modal <dialog> (Esc closes it, focus stays inside).  `body` builds the
 * content; resolves with what the form's submit handler returned. */
export function modal(title: string, build: (close: () => void, dlg: HTMLDialogElement) => Node): HTMLDialogElement {
  const dlg = h('dialog', { 'aria-label': title }) as HTMLDialogElement;
  const close = () => { dlg.close(); };
  dlg.addEventListener('close', () => dlg.remove());
  dlg.appendChild(h('h2', {}, title));
  dlg.appendChild(build(close, dlg));
  document.body.appendChild(dlg);
  dlg.showModal();
  return dlg;
}

/* Asks before a destructive action. */
export function confirmAction(question: string, okLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const dlg = modal('Please confirm', (close) => {
      const form = h('form', { method: 'dialog' },
        h('p', {}, question),
        h('div', { class: 'buttons' },
          h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
          h('button', { type: 'submit', class: 'danger', autofocus: true }, okLabel)));
      form.addEventListener('submit', (ev) => { ev.preventDefault(); answered = true; close(); });
      return form;
    });
    dlg.addEventListener('close', () => resolve(answered));
  });
}

/* A labelled form field. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  const id = 'f-' + Math.random().toString(36).slice(2, 9);
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

export function replace(el: HTMLElement, ...nodes: (Node | null)[]): void {
  clear(el);
  for (const n of nodes) if (n) el.appendChild(n);
}
