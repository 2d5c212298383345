// Notifications: the service worker (which also keeps the console's shell
// for offline starts), system notifications through it, a short chime made
// with WebAudio, and the unread total in the page title.

const MUTE_KEY = 'parley.console.notify';
const TITLE = 'Parley console';

let registration = null;

// registerServiceWorker installs /console/sw.js (scope /console/) once.
export function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return Promise.resolve(null);
  return navigator.serviceWorker.register('/console/sw.js', { scope: '/console/' })
    .then((r) => (registration = r))
    .catch(() => null);
}

export class Notifier extends EventTarget {
  constructor() {
    super();
    this.supported = 'Notification' in globalThis;
    this._ctx = null;
    this._lastChime = 0;
    // Browsers start audio only after a gesture: make the context on the first one.
    const unlock = () => {
      this._audio();
      removeEventListener('pointerdown', unlock, true);
      removeEventListener('keydown', unlock, true);
    };
    addEventListener('pointerdown', unlock, true);
    addEventListener('keydown', unlock, true);
  }

  get muted() {
    try {
      return localStorage.getItem(MUTE_KEY) === 'off';
    } catch {
      return false;
    }
  }

  set muted(v) {
    try {
      if (v) localStorage.setItem(MUTE_KEY, 'off');
      else localStorage.removeItem(MUTE_KEY);
    } catch { /* this page only */ }
  }

  // state: unsupported | default (never asked) | denied | on | off (muted)
  get state() {
    if (!this.supported) return this.muted ? 'off' : 'sound';
    const p = Notification.permission;
    if (p === 'granted') return this.muted ? 'off' : 'on';
    return p === 'denied' ? 'denied' : 'default';
  }

  // toggle: ask the first time, then switch between on and off.
  async toggle() {
    if (this.supported && Notification.permission === 'default') {
      let p = 'default';
      try {
        p = await Notification.requestPermission();
      } catch { /* old browsers: callback form only */ }
      if (p === 'granted') {
        this.muted = false;
        await registerServiceWorker();
        this.chime(true);
      }
    } else if (this.state !== 'denied') {
      this.muted = !this.muted;
      if (!this.muted) this.chime(true);
    }
    this.dispatchEvent(new Event('change'));
    return this.state;
  }

  // notify shows a visitor's message: a system notification when allowed,
  // and the chime unless muted.
  async notify({ title, body, conversationId }) {
    if (this.muted) return;
    this.chime();
    if (!this.supported || Notification.permission !== 'granted') return;
    const opts = {
      body, tag: conversationId, renotify: true, icon: '/console/icons/192.png', badge: '/console/icons/32.png',
      data: { conversation_id: conversationId, url: '/console/#c=' + conversationId },
    };
    try {
      const reg = registration || (await navigator.serviceWorker?.getRegistration('/console/'));
      if (reg) return await reg.showNotification(title, opts);
      new Notification(title, opts); // eslint-disable-line no-new
    } catch { /* notifications are a nicety */ }
  }

  // callAlert shows an incoming call as a system notification (no chime:
  // the call screen rings); clearCallAlert takes it back once answered.
  async callAlert({ title, body, conversationId, tag }) {
    if (this.muted || !this.supported || Notification.permission !== 'granted') return;
    const opts = {
      body, tag, renotify: true, requireInteraction: true, icon: '/console/icons/192.png', badge: '/console/icons/32.png',
      data: { conversation_id: conversationId, url: '/console/#c=' + conversationId },
    };
    try {
      const reg = registration || (await navigator.serviceWorker?.getRegistration('/console/'));
      if (reg) return await reg.showNotification(title, opts);
      this._callNote = new Notification(title, opts);
    } catch { /* notifications are a nicety */ }
  }

  async clearCallAlert(tag) {
    try {
      this._callNote?.close();
      this._callNote = null;
      const reg = registration || (await navigator.serviceWorker?.getRegistration('/console/'));
      for (const n of (await reg?.getNotifications({ tag })) || []) n.close();
    } catch { /* nothing to take back */ }
  }

  // audioContext: the one the first gesture unlocked (calls ring on it).
  audioContext() {
    return this._audio();
  }

  _audio() {
    if (this._ctx) return this._ctx;
    const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AC) return null;
    try {
      this._ctx = new AC();
    } catch {
      this._ctx = null;
    }
    return this._ctx;
  }

  // chime: two soft bell-like notes, a fifth apart, about half a second.
  chime(force = false) {
    const now = Date.now();
    if (!force && now - this._lastChime < 1500) return;
    this._lastChime = now;
    const ctx = this._audio();
    if (!ctx) return;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    const t0 = ctx.currentTime + 0.02;
    const out = ctx.createGain();
    out.gain.value = 0.22;
    out.connect(ctx.destination);
    for (const [freq, at] of [[880, 0], [1318.5, 0.11]]) {
      for (const [mult, level] of [[1, 1], [2, 0.18]]) { // a quiet overtone makes it a bell, not a beep
        const osc = ctx.createOscillator();
        const g = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq * mult;
        g.gain.setValueAtTime(0, t0 + at);
        g.gain.linearRampToValueAtTime(level, t0 + at + 0.012);
        g.gain.exponentialRampToValueAtTime(0.0008, t0 + at + 0.42);
        osc.connect(g).connect(out);
        osc.start(t0 + at);
        osc.stop(t0 + at + 0.45);
      }
    }
  }
}

// syncPush makes this browser's Web Push subscription match the bell: on,
// it subscribes with the server's key and registers the subscription, so
// visitors' messages reach the console while it is closed; off, it
// unsubscribes. Browsers that cannot reach their push service (or have no
// Push API) keep the notifications of an open console only.
export async function syncPush(client, on) {
  const reg = registration || (await navigator.serviceWorker?.getRegistration('/console/'));
  if (!reg?.pushManager) return 'unsupported';
  try {
    let sub = await reg.pushManager.getSubscription();
    if (!on) {
      if (sub) {
        await client.api('DELETE', '/push/subscriptions', { endpoint: sub.endpoint }).catch(() => {});
        await sub.unsubscribe();
      }
      return 'off';
    }
    const { public_key: key } = await client.api('GET', '/push/key');
    const want = fromBase64url(key);
    if (sub && !sameBytes(new Uint8Array(sub.options.applicationServerKey || []), want)) {
      await sub.unsubscribe(); // subscribed for another server key (a reset server)
      sub = null;
    }
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: want });
    await client.api('POST', '/push/subscriptions', sub.toJSON());
    return 'on';
  } catch {
    return 'unavailable';
  }
}

function fromBase64url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

let unreadNow = 0;
let callTitle = null;

// setTitle puts the unread total in the tab's title (a ringing call's
// title wins while it rings).
export function setTitle(unread) {
  unreadNow = unread;
  document.title = callTitle || (unread > 0 ? `(${unread > 99 ? '99+' : unread}) ${TITLE}` : TITLE);
}

// setCallTitle: "Incoming video call · Maria" while a call rings (null: back).
export function setCallTitle(text) {
  callTitle = text || null;
  setTitle(unreadNow);
}
