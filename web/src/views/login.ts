// The login page: user and password; a clear message on 401, and on 429
// the time to wait (Retry-After).
import { ApiError, login } from '../api';
import { h } from '../dom';
import { errorText, field } from '../ui';

export function loginView(main: HTMLElement, _p: string[], done: () => void): void {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true }) as HTMLInputElement;
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }) as HTMLInputElement;
  const msg = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in') as HTMLButtonElement;
  const form = h('form', { class: 'login', 'aria-label': 'Log in' },
    h('h1', {}, 'corral'), h('p', { class: 'sub' }, 'Log in to manage this host.'),
    field('User', user), field('Password', pass), msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    try {
      await login(user.value.trim(), pass.value);
      done();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) msg.textContent = 'Wrong user name or password.';
      else if (e instanceof ApiError && e.status === 429)
        msg.textContent = `Too many attempts, retry in ${e.retryAfter || 'a few'} s.`;
      else msg.textContent = errorText(e);
      msg.hidden = false;
      pass.select();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Log in';
    }
  });
  main.appendChild(form);
  user.focus();
}
