// The console's sign-in: the REST calls that make a session (password,
// one-time link, invitation), where the session is kept (localStorage, so
// every tab shares it), and the token source for the SDK Client, which
// renews the token with POST /auth/refresh when less than an hour is left
// or when the server refused it.

import { consoleAuth } from '../sdk/console.js';

export const SESSION_KEY = 'parley.console.session';
const RENEW_BEFORE_MS = 60 * 60 * 1000;
const MIN_LEFT_MS = 30 * 1000; // a session with less than this is as good as expired

export const authAPI = consoleAuth();
export const call = authAPI.call;

function read() {
  try {
    const v = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return v && typeof v.token === 'string' && v.user?.id ? v : null;
  } catch {
    return null;
  }
}

// Session fires "change" when the session is replaced (also by another
// tab) and "ended" when it is gone: signed out here or elsewhere, or a
// refresh was refused.
export class Session extends EventTarget {
  constructor() {
    super();
    this.data = read();
    this._refreshing = null;
    addEventListener('storage', (e) => {
      if (e.key !== SESSION_KEY) return;
      const next = read();
      if (!next) {
        if (this.data) {
          this.data = null;
          this._fire('ended', { reason: 'elsewhere' });
        }
        return;
      }
      this.data = next;
      this._fire('change');
    });
  }

  _fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get user() {
    return this.data?.user || null;
  }

  get isOwner() {
    return this.data?.user?.role === 'owner';
  }

  msLeft() {
    return this.data ? Date.parse(this.data.expires_at) - Date.now() : -1;
  }

  get valid() {
    return !!this.data && this.msLeft() > MIN_LEFT_MS;
  }

  save(s) {
    this.data = s;
    try {
      localStorage.setItem(SESSION_KEY, JSON.stringify(s));
    } catch { /* private mode: this tab only */ }
    this._fire('change');
  }

  clear(reason = 'signout') {
    const had = !!this.data;
    this.data = null;
    try {
      localStorage.removeItem(SESSION_KEY);
    } catch { /* nothing kept */ }
    if (had) this._fire('ended', { reason });
  }

  // refresh renews the token. A refused renewal (the session expired or
  // the user is gone) ends the session; a network failure keeps it.
  refresh() {
    if (this._refreshing) return this._refreshing;
    const token = this.data?.token;
    if (!token) return Promise.reject(new ParleyError('unauthenticated', 'not signed in'));
    this._refreshing = authAPI.refresh(token)
      .then((s) => {
        if (!this.data) throw new ParleyError('unauthenticated', 'signed out');
        if (this.data.token === token) this.save(s); // else another tab renewed it first
        return this.data;
      })
      .catch((e) => {
        if (e.status === 401 || e.status === 403) this.clear('expired');
        throw e;
      })
      .finally(() => (this._refreshing = null));
    return this._refreshing;
  }

  // token is the SDK Client's token source. refused: the token the server
  // just refused (the client's current one), if any.
  async token({ refresh = false } = {}, refused = null) {
    if (!this.data) throw new ParleyError('unauthenticated', 'not signed in');
    // Another tab (or our timer) may have renewed it already.
    if (refresh && refused && this.data.token !== refused) return this.data.token;
    if (refresh || this.msLeft() < RENEW_BEFORE_MS) {
      try {
        await this.refresh();
      } catch (e) {
        if (!this.data) throw e; // refused: the app goes back to the sign-in form
        if (this.msLeft() < MIN_LEFT_MS) throw e; // cannot renew and nothing left to use
      }
    }
    return this.data.token;
  }

  // keepFresh renews the token an hour before it runs out, and checks
  // again whenever the page comes back (timers sleep with the laptop).
  keepFresh(signal) {
    const plan = () => {
      clearTimeout(this._timer);
      if (!this.data) return;
      const wait = Math.max(5000, this.msLeft() - RENEW_BEFORE_MS);
      this._timer = setTimeout(() => this.refresh().catch(() => {}).finally(plan), Math.min(wait, 2 ** 31 - 1));
    };
    const check = () => {
      if (document.visibilityState === 'visible' && this.data && this.msLeft() < RENEW_BEFORE_MS) this.refresh().catch(() => {});
    };
    plan();
    this.addEventListener('change', plan, { signal });
    document.addEventListener('visibilitychange', check, { signal });
    signal.addEventListener('abort', () => clearTimeout(this._timer));
  }
}
