import { call, can } from '../api';
import { h, when } from '../dom';
import { modal } from '../ui';
import { deleteButton, listSection } from './common';

export function usersView(main: HTMLElement): () => void {
  main.appendChild(h('h1', {}, 'Users and tokens'));
  const admin = can('admin');
  const users = listSection<any>('Users', 'users', () => call('GET', '/users'), [
    { title: 'Name', cell: (u) => u.name },
    { title: 'Role', cell: (u) => u.role },
    { title: 'Created', cell: (u) => when(u.created) },
    { title: '', cell: (u) => admin ? deleteButton(`user ${u.name}`, `/users/${encodeURIComponent(u.name)}`, () => users.load()) : null },
  ], admin ? {
    label: 'Create user',
    inputs: [
      { name: 'name', label: 'Name', required: true },
      { name: 'role', label: 'Role', options: ['auditor', 'operator', 'admin'] },
      { name: 'password', label: 'Password', type: 'password', required: true, hint: 'At least 12 characters' },
    ],
    submit: (v) => call('POST', '/users', v),
  } : undefined);
  const tokens = listSection<any>('API tokens', 'tokens', () => call('GET', '/tokens'), [
    { title: 'Name', cell: (t) => t.name },
    { title: 'User', cell: (t) => t.user },
    { title: 'Role', cell: (t) => t.role },
    { title: 'Created', cell: (t) => when(t.created) },
    { title: 'Expires', cell: (t) => when(t.expires) },
    { title: '', cell: (t) => admin ? deleteButton(`token ${t.name}`, `/tokens/${encodeURIComponent(t.id)}`, () => tokens.load()) : null },
  ], admin ? {
    label: 'Create token',
    inputs: [
      { name: 'name', label: 'Name', required: true },
      { name: 'role', label: 'Role', options: ['auditor', 'operator', 'admin'], hint: 'At most your own role' },
      { name: 'expires_days', label: 'Expires after (days)', type: 'number', value: '90' },
    ],
    submit: async (v) => {
      const t = await call('POST', '/tokens', { name: v.name, role: v.role, ...(v.expires_days ? { expires_days: Number(v.expires_days) } : {}) });
      showToken(t.token);
      return t;
    },
  } : undefined);
  main.appendChild(users.section);
  main.appendChild(tokens.section);
  return () => { users.unsub(); tokens.unsub(); };
}

/* A new token is shown once: in a read-only field to copy from. */
function showToken(token: string): void {
  modal('Your new API token', (close) => {
    const input = h('input', { readonly: true, value: token, 'aria-label': 'API token', class: 'token' }) as HTMLInputElement;
    setTimeout(() => input.select(), 0);
    return h('div', {}, h('p', {}, 'Copy it now: it is not shown again. Send it as “Authorization: Bearer TOKEN”.'), input,
      h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'primary', onclick: () => close() }, 'Done')));
  });
}
