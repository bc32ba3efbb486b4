// corral's web console: a single-page app.  The router maps the path to a
// view; every view renders into <main> and may return a cleanup function
// (stop polling, close a console) called when the user leaves it.
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { forget, logout, me, refreshMe, setUnauthenticatedHandler } from './api';
import { clear, h } from './dom';
import { startEvents, stopEvents } from './events';
import { installStyleShim } from './styleshim';
import { errorText, notify } from './ui';
import { containerView } from './views/container';
import { containersView } from './views/containers';
import { dashboardView } from './views/dashboard';
import { imagesView } from './views/images';
import { loginView } from './views/login';
import { networksView } from './views/networks';
import { operationsView } from './views/operations';
import { storageView } from './views/storage';
import { usersView } from './views/users';
import { vmView } from './views/vm';
import { vmsView } from './views/vms';

export type Cleanup = (() => void) | void;
export type View = (main: HTMLElement, params: string[]) => Cleanup;

const routes: [RegExp, View, string][] = [
  [/^\/$/, dashboardView, 'Dashboard'],
  [/^\/vms$/, vmsView, 'VMs'],
  [/^\/vms\/([a-z0-9-]+)$/, vmView, 'VMs'],
  [/^\/containers$/, containersView, 'Containers'],
  [/^\/containers\/([a-z0-9-]+)$/, containerView, 'Containers'],
  [/^\/images$/, imagesView, 'Images'],
  [/^\/storage$/, storageView, 'Storage'],
  [/^\/networks$/, networksView, 'Networks'],
  [/^\/operations$/, operationsView, 'Operations'],
  [/^\/users$/, usersView, 'Users'],
];
const nav: [string, string][] = [
  ['/', 'Dashboard'], ['/vms', 'VMs'], ['/containers', 'Containers'], ['/images', 'Images'],
  ['/storage', 'Storage'], ['/networks', 'Networks'],
  ['/operations', 'Operations'], ['/users', 'Users & tokens'],
];

let cleanup: Cleanup;
const app = document.getElementById('app')!;

export function go(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function sessionEnded(): void {
  forget();
  stopEvents();
  if (location.pathname !== '/login') {
    go('/login', true);
    notify('Your session ended: please log in again.', 'error');
  }
}

function shell(active: string): HTMLElement {
  const who = me()!;
  const main = h('main', { id: 'main', tabindex: '-1' });
  const logoutBtn = h('button', { type: 'button', class: 'logout' }, 'Log out') as HTMLButtonElement;
  logoutBtn.addEventListener('click', async () => {
    logoutBtn.disabled = true;
    logoutBtn.textContent = 'Logging out…';
    try { await logout(); } catch (e) { notify(errorText(e), 'error'); }
    stopEvents();
    go('/login', true);
  });
  const header = h('header', { class: 'top' },
    h('a', { href: '/', class: 'brand', 'data-link': true }, 'corral'),
    h('nav', { 'aria-label': 'Main' },
      nav.map(([href, label]) => h('a', { href, 'data-link': true, 'aria-current': label === active ? 'page' : null }, label))),
    h('div', { class: 'user' },
      h('span', { class: 'who' }, who.username), ' ', h('span', { class: 'role' }, who.role), ' ', logoutBtn));
  clear(app);
  app.appendChild(header);
  app.appendChild(h('div', { id: 'notices', 'aria-live': 'polite' }));
  app.appendChild(main);
  return main;
}

function render(): void {
  if (typeof cleanup === 'function') cleanup();
  cleanup = undefined;
  const path = location.pathname;
  if (path === '/login' || !me()) {
    if (path !== '/login') history.replaceState(null, '', '/login');
    stopEvents();
    clear(app);
    const main = h('main', { class: 'login-page' });
    app.appendChild(h('div', { id: 'notices', 'aria-live': 'polite' }));
    app.appendChild(main);
    cleanup = loginView(main, [], () => go('/', true));
    return;
  }
  startEvents(() => { /* the browser reconnects; a dead session shows as 401 on the next call */ });
  for (const [re, view, label] of routes) {
    const m = path.match(re);
    if (!m) continue;
    const main = shell(label);
    document.title = `${label} · corral`;
    cleanup = view(main, m.slice(1).map(decodeURIComponent));
    return;
  }
  const main = shell('');
  main.appendChild(h('h1', {}, 'Not found'));
  main.appendChild(h('p', {}, 'There is no page at this address. ', h('a', { href: '/', 'data-link': true }, 'Go to the dashboard')));
}

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element).closest?.('a[data-link]') as HTMLAnchorElement | null;
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute('href')!);
});
window.addEventListener('popstate', render);
setUnauthenticatedHandler(sessionEnded);
installStyleShim();
render();
// A reload keeps the session: check it is still alive and the role current.
if (me()) refreshMe().then(render).catch(() => { /* a 401 already went to /login */ });
