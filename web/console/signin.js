// The sign-in screens: the password form, the one-time link (and the
// "choose how you sign in next time" step that follows it), and the
// invitation an agent opens to join the team.

import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { authAPI } from './session.js';
import { field, explain, bytes } from './kit.js';
import { theme, toggleTheme, onTheme } from './theme.js';

const MIN_PASSWORD = 8;
const MAX_PASSWORD = 72;

// page builds the centred glass card every sign-in screen uses.
function page(root, { title, lead, body, foot }) {
  const themeBtn = h('button', { type: 'button', class: 'icon-btn theme-toggle' });
  const paintTheme = (t) => {
    themeBtn.innerHTML = t === 'day' ? icons.moon : icons.sun;
    const label = t === 'day' ? 'Switch to the night theme' : 'Switch to the day theme';
    themeBtn.setAttribute('aria-label', label);
    themeBtn.title = label;
  };
  paintTheme(theme());
  const off = onTheme(paintTheme);
  themeBtn.addEventListener('click', () => toggleTheme());
  const main = h('main', { class: 'auth' },
    h('div', { class: 'auth-top' }, themeBtn),
    h('section', { class: 'auth-card glass', 'aria-labelledby': 'auth-title' },
      h('div', { class: 'brand-lockup' }, h('span', { class: 'mark', 'aria-hidden': 'true' }), h('span', {}, 'Parley')),
      h('h1', { id: 'auth-title' }, title),
      lead ? h('p', { class: 'lead' }, lead) : null,
      body),
    foot ? h('p', { class: 'auth-foot' }, foot) : null);
  root.replaceChildren(main);
  root.classList.remove('boot');
  root.removeAttribute('aria-busy');
  return () => off();
}

// form wires a submit handler with a busy state and an error line that
// counts down when the server says to wait.
function form({ fields, submit, onSubmit, extra }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'btn primary block' }, submit);
  let countdown = null;
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const el = h('form', { class: 'auth-form', novalidate: true }, ...fields.map((f) => f.el), extra || null, error, button);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (el.dataset.busy) return;
    clearInterval(countdown);
    showError('');
    for (const f of fields) f.input.removeAttribute('aria-invalid');
    el.dataset.busy = '1';
    button.disabled = true;
    button.classList.add('busy');
    try {
      await onSubmit({ invalid: (f, text) => {
        f.input.setAttribute('aria-invalid', 'true');
        f.input.focus();
        throw Object.assign(new Error(text), { local: true });
      } });
    } catch (err) {
      if (err.local) showError(err.message);
      else if (err.code === 'rate_limited') {
        let left = err.retryAfter || 60;
        showError(explain({ code: 'rate_limited', retryAfter: left }));
        countdown = setInterval(() => {
          left--;
          if (left <= 0) {
            clearInterval(countdown);
            showError('You can try again now.');
          } else showError(explain({ code: 'rate_limited', retryAfter: left }));
        }, 1000);
      } else showError(explain(err));
    } finally {
      delete el.dataset.busy;
      button.disabled = false;
      button.classList.remove('busy');
    }
  });
  return { el, showError };
}

function checkLogin(f, invalid) {
  const v = f.input.value.trim();
  if (v.length < 2) invalid(f, 'Enter a login of at least 2 characters (an e-mail address works well).');
  if (/\s/.test(v)) invalid(f, 'A login cannot contain spaces.');
  return v;
}

function checkPassword(f, invalid) {
  const v = f.input.value;
  const n = bytes(v);
  if (n < MIN_PASSWORD) invalid(f, `Choose a password of at least ${MIN_PASSWORD} characters.`);
  if (n > MAX_PASSWORD) invalid(f, `That password is too long: at most ${MAX_PASSWORD} bytes.`);
  return v;
}

const loginAttrs = { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, maxlength: 254 };

// signinForm: login and password.
export function signinForm(root, { onSession, notice = '' }) {
  const login = field({ label: 'Login', ...loginAttrs, name: 'login', placeholder: 'you@example.com' });
  const password = field({ label: 'Password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const f = form({
    fields: [login, password],
    submit: 'Sign in',
    onSubmit: async ({ invalid }) => {
      if (!login.input.value.trim()) invalid(login, 'Enter your login.');
      if (!password.input.value) invalid(password, 'Enter your password.');
      const s = await authAPI.login(login.input.value.trim(), password.input.value);
      onSession(s);
    },
  });
  page(root, {
    title: 'Welcome back',
    lead: 'Sign in to answer your visitors.',
    body: f.el,
    foot: 'New to the team? Ask an owner for an invitation link.',
  });
  if (notice) f.showError(notice);
  login.input.focus();
}

// redeemLink signs in with a one-time link (#signin=CODE).
export async function redeemLink(root, code, { onSession, onFailed }) {
  page(root, {
    title: 'Signing you in…',
    body: h('div', { class: 'auth-wait', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Checking your sign-in link'),
  });
  try {
    onSession(await authAPI.link(code));
  } catch (e) {
    onFailed(e.code === 'link_invalid' || e.code === 'bad_request' ? explain({ code: 'link_invalid' }) : explain(e));
  }
}

// chooseLogin: after a one-time link, the owner picks a login and password.
export function chooseLogin(root, { session, onSession, onSignOut }) {
  const login = field({ label: 'Login', ...loginAttrs, name: 'login', placeholder: 'you@example.com', value: session.data?.login || '' });
  const password = field({ label: 'Password', type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, hint: `${MIN_PASSWORD} to ${MAX_PASSWORD} characters. A few words make a good one.` });
  const confirm = field({ label: 'Confirm password', type: 'password', name: 'confirm-password', autocomplete: 'new-password', required: true });
  const f = form({
    fields: [login, password, confirm],
    submit: 'Save and continue',
    onSubmit: async ({ invalid }) => {
      const l = checkLogin(login, invalid);
      const p = checkPassword(password, invalid);
      if (confirm.input.value !== p) invalid(confirm, 'The two passwords are not the same.');
      const s = await authAPI.setPassword(session.data.token, { login: l, password: p });
      onSession(s);
    },
  });
  const signOut = h('button', { type: 'button', class: 'link-btn', onclick: onSignOut }, 'Sign out');
  page(root, {
    title: 'Choose how you sign in next time',
    lead: 'Your sign-in link works only once. Pick a login and a password for the next time you open the console.',
    body: f.el,
    foot: h('span', {}, `Signed in as ${session.user?.display_name || session.user?.name || 'you'}. `, signOut),
  });
  login.input.focus();
}

// inviteForm: an invited agent joins with a name, login and password.
export function inviteForm(root, code, { onSession }) {
  const name = field({ label: 'Your name', name: 'name', autocomplete: 'name', required: true, maxlength: 100, hint: 'Visitors and teammates see it.' });
  const login = field({ label: 'Login', ...loginAttrs, name: 'login', placeholder: 'you@example.com' });
  const password = field({ label: 'Password', type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, hint: `${MIN_PASSWORD} to ${MAX_PASSWORD} characters.` });
  const f = form({
    fields: [name, login, password],
    submit: 'Join',
    onSubmit: async ({ invalid }) => {
      const n = name.input.value.trim();
      if (!n) invalid(name, 'Enter your name.');
      const l = checkLogin(login, invalid);
      const p = checkPassword(password, invalid);
      onSession(await authAPI.invite({ code, displayName: n, login: l, password: p }));
    },
  });
  page(root, {
    title: 'Join the team',
    lead: 'You were invited to answer the chats of a website. Tell us your name and choose how you sign in.',
    body: f.el,
    foot: 'Already have an account? Open the console without the link to sign in.',
  });
  name.input.focus();
}
