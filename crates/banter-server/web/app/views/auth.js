// Log in / sign up screen.

import { h } from '../dom.js';

/**
 * @param {object} o
 * @param {ReturnType<import('../api.js').createApi>} o.api
 * @param {(session: object) => void} o.onSession
 */
export function authView({ api, onSession }) {
  let mode = 'login';
  const error = h('p', { class: 'form-error', role: 'alert', id: 'auth-error' });
  const username = h('input', { id: 'auth-username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', minlength: 3, maxlength: 32 });
  const password = h('input', { id: 'auth-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const displayName = h('input', { id: 'auth-display-name', name: 'display_name', autocomplete: 'name', maxlength: 64 });
  const displayRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'auth-display-name', text: 'Display name (optional)' }), displayName);
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Log in' });
  const heading = h('h1', { text: 'Log in to Banter' });
  const switchText = h('span', { text: 'New here?' });
  const switchButton = h('button', { type: 'button', class: 'link', text: 'Create an account', onclick: () => setMode(mode === 'login' ? 'signup' : 'login') });

  function setMode(next) {
    mode = next;
    const signup = mode === 'signup';
    heading.textContent = signup ? 'Create your Banter account' : 'Log in to Banter';
    submit.textContent = signup ? 'Sign up' : 'Log in';
    switchText.textContent = signup ? 'Have an account?' : 'New here?';
    switchButton.textContent = signup ? 'Log in instead' : 'Create an account';
    displayRow.hidden = !signup;
    password.autocomplete = signup ? 'new-password' : 'current-password';
    error.textContent = '';
  }

  const form = h(
    'form',
    {
      class: 'auth-form',
      'aria-labelledby': 'auth-heading',
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          const answer =
            mode === 'signup'
              ? await api.signup(username.value.trim().toLowerCase(), password.value, displayName.value.trim())
              : await api.login(username.value.trim().toLowerCase(), password.value);
          onSession({ token: answer.token, user: answer.user, device_id: answer.device_id });
        } catch (e) {
          error.textContent = e.message || 'Something went wrong';
          submit.disabled = false;
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'auth-username', text: 'Username' }), username),
    h('div', { class: 'field' }, h('label', { for: 'auth-password', text: 'Password' }), password),
    displayRow,
    error,
    submit,
    h('p', { class: 'switch' }, switchText, ' ', switchButton),
  );
  heading.id = 'auth-heading';
  queueMicrotask(() => username.focus());
  return h('main', { class: 'auth' }, h('div', { class: 'auth-card' }, h('img', { src: new URL('../../icons/icon-192.png', import.meta.url).pathname, alt: '', class: 'logo', width: 64, height: 64 }), heading, form));
}
