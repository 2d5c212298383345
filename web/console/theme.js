// Day and night, like the widget: the system's light or dark mode, until
// the agent picks one with the toggle (remembered). The root element carries pl-day or pl-night, and --accent
// follows the inbox's colour.

import { readableOn } from './kit.js';

const KEY = 'parley.console.theme';
const ACCENT_KEY = 'parley.console.accent'; // the inbox colour, so the sign-in screen wears it too
const DEFAULT_ACCENT = '#4f46e5';

const dark = matchMedia('(prefers-color-scheme: dark)');
const listeners = new Set();

export function autoTheme() {
  return dark.matches ? 'night' : 'day';
}

function chosen() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'day' || v === 'night' ? v : null;
  } catch {
    return null;
  }
}

export function theme() {
  return chosen() || autoTheme();
}

export function applyTheme() {
  const t = theme();
  const root = document.documentElement;
  root.classList.toggle('pl-day', t === 'day');
  root.classList.toggle('pl-night', t === 'night');
  for (const f of listeners) f(t);
  return t;
}

export function toggleTheme() {
  const next = theme() === 'day' ? 'night' : 'day';
  try {
    localStorage.setItem(KEY, next);
  } catch { /* this page only */ }
  return applyTheme();
}

export function onTheme(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

let started = false;
export function startTheme() {
  try {
    const saved = localStorage.getItem(ACCENT_KEY);
    if (saved) setAccent(saved, false);
  } catch { /* the default accent */ }
  applyTheme();
  if (started) return;
  started = true;
  dark.addEventListener?.('change', applyTheme);
  addEventListener('storage', (e) => e.key === KEY && applyTheme());
}

// setAccent makes the inbox's colour the console's accent too.
export function setAccent(color, remember = true) {
  const c = /^#[0-9a-f]{6}$/i.test(color || '') ? color : DEFAULT_ACCENT;
  if (remember) {
    try {
      localStorage.setItem(ACCENT_KEY, c);
    } catch { /* this page only */ }
  }
  const root = document.documentElement;
  root.style.setProperty('--accent', c);
  root.style.setProperty('--accent-fg', readableOn(c));
  document.querySelector('meta[name="theme-color"]')?.setAttribute('content', c);
}
