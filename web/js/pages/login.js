// login.js -- sign in with email and password (a session cookie), or, for developers, with
// an API key that stays in this browser tab only.

import { signInWithApiKey, signInWithPassword } from '../api.js';
import { h, icon } from '../dom.js';

export function render(root, params, ctx) {
  document.title = 'Sign in · ttdm';
  const next = ctx.query.get('next');
  const target = next && next.startsWith('/app/') && !next.startsWith('/app/login') ? next : '/app/inbox';

  const error = h('div', { class: 'form-error', role: 'alert', id: 'login-error' });
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  showError(ctx.query.get('expired') ? 'Your session has ended. Please sign in again.' : '');

  const done = async () => {
    await ctx.afterSignIn();
    ctx.navigate(target, { replace: true });
  };

  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true, 'aria-describedby': 'login-error' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'btn btn--primary btn--block', type: 'submit' }, 'Sign in');
  const form = h('form', {
    class: 'login-form', 'aria-labelledby': 'login-title',
    onsubmit: async (ev) => {
      ev.preventDefault();
      showError('');
      submit.disabled = true;
      try {
        await signInWithPassword(email.value.trim(), password.value);
        await done();
      } catch (e) {
        showError(e.message);
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), email),
  h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
  submit);

  const key = h('input', { id: 'api-key', name: 'api_key', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'ttdm_…', required: true });
  const keySubmit = h('button', { class: 'btn btn--secondary btn--block', type: 'submit' }, icon('key'), 'Sign in with API key');
  const keyForm = h('form', {
    class: 'login-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      showError('');
      keySubmit.disabled = true;
      try {
        await signInWithApiKey(key.value);
        await done();
      } catch (e) {
        showError(e.message);
      } finally {
        keySubmit.disabled = false;
      }
    },
  },
  h('div', { class: 'field' },
    h('label', { for: 'api-key' }, 'API key'), key,
    h('p', { class: 'hint' }, 'Kept in this tab only and forgotten when it closes. Create one with ', h('code', {}, 'ttdm apikey create'), '.')),
  keySubmit);

  const details = h('details', { class: 'login-alt' },
    h('summary', {}, 'Developer sign-in with an API key'), keyForm);

  root.append(h('div', { class: 'login-page' },
    h('div', { class: 'login-card' },
      h('div', { class: 'login-brand' },
        h('img', { src: '/app/img/logo.svg', alt: '', width: 40, height: 40 }),
        h('span', {}, 'ttdm')),
      h('h1', { id: 'login-title' }, 'Sign in to your inbox'),
      h('p', { class: 'muted' }, 'TikTok Direct Messages for your customer-service team.'),
      error, form, details)));
  if (!ctx.query.get('expired')) error.hidden = true;
  email.focus();
  return null;
}
