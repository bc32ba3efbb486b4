import { call, can } from '../api';
import { h, when } from '../dom';
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
  ]);
  main.appendChild(users.section);
  main.appendChild(tokens.section);
  return () => { users.unsub(); tokens.unsub(); };
}
