// Small pieces the console's views share: labelled form fields, avatars,
// copying, the toast, human error messages and a few extra icons.

import { h } from '../ui/dom.js';
import { callLabel } from '../ui/format.js';

let seq = 0;
export const uid = (p = 'f') => `${p}-${++seq}`;

const svg = (d, extra = '') =>
  `<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" ${extra}>${d}</svg>`;

// Icons the shared set does not have.
export const more = {
  bellOff: svg('<path d="M13.73 21a2 2 0 0 1-3.46 0M18.63 13A17.89 17.89 0 0 1 18 8M6.26 6.26A5.86 5.86 0 0 0 6 8c0 7-3 9-3 9h14M18 8a6 6 0 0 0-9.33-5M1 1l22 22"/>'),
  search: svg('<circle cx="11" cy="11" r="7"/><path d="m21 21-4.3-4.3"/>', 'width="18" height="18"'),
  panel: svg('<rect x="3" y="3" width="18" height="18" rx="3"/><path d="M15 3v18"/>'),
  link: svg('<path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/>', 'width="16" height="16"'),
  clock: svg('<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>', 'width="16" height="16"'),
  pin: svg('<path d="M21 10c0 7-9 13-9 13S3 17 3 10a9 9 0 0 1 18 0z"/><circle cx="12" cy="10" r="3"/>', 'width="16" height="16"'),
  globe: svg('<circle cx="12" cy="12" r="10"/><path d="M2 12h20M12 2a15.3 15.3 0 0 1 4 10 15.3 15.3 0 0 1-4 10 15.3 15.3 0 0 1-4-10 15.3 15.3 0 0 1 4-10z"/>', 'width="16" height="16"'),
  monitor: svg('<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/>', 'width="16" height="16"'),
  lang: svg('<path d="m5 8 6 6M4 14l6-6 2-3M2 5h12M7 2h1M22 22l-5-10-5 10M14 18h6"/>', 'width="16" height="16"'),
  net: svg('<rect x="2" y="2" width="20" height="8" rx="2"/><rect x="2" y="14" width="20" height="8" rx="2"/><path d="M6 6h.01M6 18h.01"/>', 'width="16" height="16"'),
  calendar: svg('<rect x="3" y="4" width="18" height="18" rx="2"/><path d="M16 2v4M8 2v4M3 10h18"/>', 'width="16" height="16"'),
  eye: svg('<path d="M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z"/><circle cx="12" cy="12" r="3"/>', 'width="16" height="16"'),
  arrowIn: svg('<path d="M15 3h4a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-4M10 17l5-5-5-5M15 12H3"/>', 'width="16" height="16"'),
  shield: svg('<path d="M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"/>', 'width="16" height="16"'),
  plus: svg('<path d="M12 5v14M5 12h14"/>', 'width="18" height="18"'),
  key: svg('<path d="M21 2l-2 2m-7.61 7.61a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78zm0 0L15.5 7.5m0 0 3 3L22 7l-3-3m-3.5 3.5L19 4"/>', 'width="18" height="18"'),
  warn: svg('<path d="M10.29 3.86 1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0z"/><path d="M12 9v4M12 17h.01"/>'),
  sparkle: svg('<path d="M12 3l1.9 5.8L20 10l-6.1 1.2L12 17l-1.9-5.8L4 10l6.1-1.2z"/>', 'width="18" height="18"'),
};

// field is a labelled input (or textarea) with an optional hint.
export function field({ label, type = 'text', multiline = false, hint, ...attrs }) {
  const id = uid();
  const hintId = hint ? id + '-hint' : undefined;
  const input = multiline
    ? h('textarea', { id, 'aria-describedby': hintId, ...attrs })
    : h('input', { id, type, 'aria-describedby': hintId, ...attrs });
  const el = h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: hintId, class: 'hint' }, hint) : null);
  return { el, input };
}

// A stable hue per name, for avatars.
export function hue(s = '') {
  let n = 0;
  for (const c of String(s)) n = (n * 31 + c.codePointAt(0)) >>> 0;
  return n % 360;
}

const ANON = /^Visitor [A-Z0-9]{2,}$/;
const personIcon = svg('<circle cx="12" cy="8.5" r="3.6"/><path d="M5.5 19.5a6.5 6.5 0 0 1 13 0"/>');

export function initials(name = '') {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  const first = [...words[0]][0] || '';
  const second = words.length > 1 ? [...words[words.length - 1]][0] || '' : '';
  return (first + second).toUpperCase();
}

// avatar: initials on a soft gradient (a person for anonymous visitors,
// whose names are only "Visitor K3QX"), optionally with a presence dot.
export function avatar(name, { size = 'md', dot = null } = {}) {
  const el = h('span', { class: `avatar ${size}`, 'aria-hidden': 'true' }, h('span', { class: 'ini' }));
  setAvatar(el, name);
  if (dot) el.append(dot);
  return el;
}

export function setAvatar(el, name) {
  el.style.setProperty('--h', String(hue(name)));
  const ini = el.querySelector('.ini');
  if (ANON.test(String(name).trim())) ini.innerHTML = personIcon;
  else ini.textContent = initials(name);
}

// copyText copies to the clipboard, with a fallback for plain-http origins.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const t = h('textarea', { style: { position: 'fixed', opacity: '0', top: '0', left: '0' } });
    t.value = text;
    document.body.append(t);
    t.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch { /* no clipboard at all */ }
    t.remove();
    return ok;
  }
}

// copyButton copies what get() returns and says so for a moment.
export function copyButton(get, label, { text = 'Copy', className = 'btn small' } = {}) {
  const btn = h('button', { type: 'button', class: className, 'aria-label': label, title: label });
  btn.textContent = text;
  btn.addEventListener('click', async () => {
    const ok = await copyText(get());
    btn.textContent = ok ? 'Copied' : 'Copy failed';
    btn.classList.toggle('done', ok);
    clearTimeout(btn._t);
    btn._t = setTimeout(() => {
      btn.textContent = text;
      btn.classList.remove('done');
    }, 1600);
    toast(ok ? 'Copied to the clipboard' : 'Could not copy: select the text and copy it by hand', !ok);
  });
  return btn;
}

// The toast: one polite status line at the bottom of the screen.
let toastEl = null;
export function toast(text, error = false) {
  if (!toastEl) {
    toastEl = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastEl);
  }
  toastEl.textContent = text;
  toastEl.classList.toggle('error', error);
  toastEl.classList.add('show');
  clearTimeout(toastEl._t);
  toastEl._t = setTimeout(() => toastEl.classList.remove('show'), 3200);
}

// explain turns an API error into a sentence for people.
export function explain(e, what = '') {
  switch (e?.code) {
    case 'bad_credentials':
      return 'That login and password do not match. Check them and try again.';
    case 'link_invalid':
      return 'This link was already used or has expired — sign in with your password';
    case 'rate_limited': {
      const s = e.retryAfter || 60;
      return `Too many attempts from your network. Wait ${s} second${s === 1 ? '' : 's'} and try again.`;
    }
    case 'offline':
      return 'The server cannot be reached. Check your connection and try again.';
    case 'login_taken':
      return 'That login is already taken. Choose another one.';
    case 'forbidden':
      return 'Your role does not allow this. Ask an owner of the account.';
    case 'unauthenticated':
    case 'token_expired':
      return 'Your session has ended. Sign in again.';
    case 'bad_request':
      return sentence(e.message) || 'That was not accepted. Check the fields and try again.';
    default:
      return `${what ? what + ': ' : ''}${sentence(e?.message) || 'something went wrong. Try again.'}`;
  }
}

function sentence(s) {
  if (!s) return '';
  s = String(s).trim();
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

// bytes counts a string's UTF-8 bytes (passwords are limited in bytes).
export const bytes = (s) => new TextEncoder().encode(s).length;

// dateTime: "1 Dec 2026, 14:05".
export function dateTime(iso) {
  const d = new Date(iso);
  if (isNaN(d) || d.getFullYear() < 2000) return '';
  return d.toLocaleString([], { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
}

// since: "just now", "5 minutes ago", "3 hours ago", "2 days ago".
export function since(iso) {
  const t = Date.parse(iso);
  if (!t) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return 'just now';
  const unit = (n, w) => `${n} ${w}${n === 1 ? '' : 's'} ago`;
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400) return unit(Math.floor(s / 3600), 'hour');
  if (s < 86400 * 30) return unit(Math.floor(s / 86400), 'day');
  return dateTime(iso);
}

// language: "Bulgarian (Bulgaria)" for "bg-BG", in the agent's language.
export function language(tag) {
  if (!tag) return '';
  try {
    return new Intl.DisplayNames([navigator.language || 'en'], { type: 'language' }).of(tag) || tag;
  } catch {
    return tag;
  }
}

// readableOn picks a text colour for a background colour "#rrggbb".
export function readableOn(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || '');
  if (!m) return '#ffffff';
  const lin = (v) => {
    const c = parseInt(v, 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  return L > 0.45 ? '#0f172a' : '#ffffff';
}

// preview: what the list and notifications show of a message.
export function preview(m) {
  if (!m) return '';
  if (m.deleted_at) return 'Message deleted';
  if (m.type === 'call') return callLabel(m);
  const kind = { image: 'Photo', voice: 'Voice message', file: 'File' }[m.type];
  if (kind) return m.text ? `${kind} · ${m.text.replace(/\s+/g, ' ').trim()}` : kind;
  return (m.text || '').replace(/\s+/g, ' ').trim();
}
