// <parley-chat>: the website chat widget. A floating button opens a glass
// panel where a visitor talks to the site's team; in mode="page" it is the
// full-page chat of /chat/ADDRESS. It lives in a Shadow DOM, so the host
// page's CSS cannot break it and its CSS cannot leak out.
//
//   <parley-chat address="Ab3dE5gH"></parley-chat>   (the loader, /widget.js, adds it)
//
// Attributes: address (required), server (defaults to where this module
// comes from), identity, mode ("bubble" | "page"), data-position, color,
// theme ("day" | "night"; "time": night from 19:00 to 7:00 the visitor's
// local time or in dark mode; otherwise "auto": their system's light or
// dark mode), until they pick one with the toggle.
//
// Calls: the header's video and phone buttons call the team; a call from
// the team opens the panel and rings. The call screen (ui/callscreen.js,
// loaded on first use) covers the panel, which grows for a video call on a
// desktop and fills the screen on a phone; "Minimize" hides the panel while
// the call goes on, and the launcher turns green to come back to it.

import { Client, INBOX } from '../sdk/client.js';
import { visitorSession, widgetConfig } from '../sdk/visitor.js';
import { Thread } from '../ui/thread.js';
import { tokensCSS, threadCSS } from '../ui/styles.js';
import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { STATUS_LABEL } from '../ui/format.js';
import { widgetCSS } from './styles.js';

const HERE = new URL('..', import.meta.url).href.replace(/\/$/, '');
const CAN_CALL = typeof RTCPeerConnection === 'function' && !!globalThis.navigator?.mediaDevices?.getUserMedia;
const THEME_KEY = 'parley.theme';
const NIGHT_FROM = 19;
const NIGHT_UNTIL = 7;

let sheet = null;
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(tokensCSS + threadCSS + widgetCSS);
  }
  return sheet;
}

const prefersDark = () => matchMedia('(prefers-color-scheme: dark)').matches;

// autoTheme follows the visitor's system: night in dark mode, day in light
// mode, whatever the hour (a night theme on a light page looked broken).
export function autoTheme(dark = prefersDark()) {
  return dark ? 'night' : 'day';
}

// clockTheme, for theme="time": night from 19:00 to 7:00 the visitor's
// local time, or when their system asks for dark.
export function clockTheme(now = new Date(), dark = prefersDark()) {
  const hr = now.getHours();
  return dark || hr >= NIGHT_FROM || hr < NIGHT_UNTIL ? 'night' : 'day';
}

class ParleyChat extends HTMLElement {
  connectedCallback() {
    if (this._started) return;
    this._started = true;
    this.server = (this.getAttribute('server') || HERE).replace(/\/+$/, '');
    this.address = this.getAttribute('address') || '';
    this.page = this.getAttribute('mode') === 'page';
    this.unread = 0;
    this.status = 'offline';
    this.shadow = this.attachShadow({ mode: 'open' });
    this.shadow.adoptedStyleSheets = [styles()];
    this._build();
    this._applyTheme();
    this._themeTimer = setInterval(() => this._applyTheme(), 60000);
    matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', () => this._applyTheme());
    this._start();
  }

  disconnectedCallback() {
    clearInterval(this._themeTimer);
    this.client?.close();
  }

  // --- building ---

  _build() {
    this.dot = h('span', { class: 'dot offline', 'aria-hidden': 'true' });
    this.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    this.launcher = h('button', { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-label': 'Open chat', html: icons.chat, onclick: () => this.toggle() });
    this.launcher.append(this.dot, this.badge);
    this.headDot = h('span', { class: 'dot offline', 'aria-hidden': 'true' });
    this.avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' }, h('span', {}, '?'), this.headDot);
    this.titleEl = h('h2', { id: 'pl-title' }, 'Chat');
    this.statusEl = h('p', { 'aria-live': 'polite' }, '');
    this.themeBtn = h('button', { type: 'button', class: 'icon-btn theme', onclick: () => this._toggleTheme() });
    this.videoBtn = h('button', { type: 'button', class: 'icon-btn call-start', 'aria-label': 'Start a video call', title: 'Start a video call', html: icons.video, hidden: true, onclick: () => this._call('video') });
    this.audioBtn = h('button', { type: 'button', class: 'icon-btn call-start', 'aria-label': 'Start an audio call', title: 'Start an audio call', html: icons.phone, hidden: true, onclick: () => this._call('audio') });
    this.closeBtn = this.page ? null : h('button', { type: 'button', class: 'icon-btn close', 'aria-label': 'Close chat', title: 'Close (Esc)', html: icons.close, onclick: () => this.close() });
    this.banner = h('div', { class: 'banner', role: 'status', hidden: true });
    this.body = h('div', { class: 'body' });
    this.header = h('header', {}, this.avatar, h('div', { class: 'title' }, this.titleEl, this.statusEl),
      h('div', { class: 'head-actions' }, this.videoBtn, this.audioBtn, this.themeBtn, this.closeBtn));
    this.panel = h('section', { class: 'panel', role: this.page ? 'main' : 'dialog', 'aria-labelledby': 'pl-title', hidden: !this.page,
      onkeydown: (e) => this._panelKey(e) },
      this.header, this.banner, this.body);
    this.root = h('div', { class: `root pl-day${this.page ? ' page' : ''}` }, this.panel, this.page ? null : this.launcher);
    this.shadow.append(this.root);
  }

  _applyConfig(cfg) {
    if (!this.cfg) mark('parley:widget-ready'); // the button shows the inbox's look and status
    this.cfg = { ...this.cfg, ...cfg };
    const c = this.cfg;
    const color = /^#[0-9a-f]{6}$/i.test(this.getAttribute('color') || '') ? this.getAttribute('color') : c.color;
    if (color) this.root.style.setProperty('--accent', color);
    // data-position set on the tag wins; otherwise the inbox's setting, live.
    if (this._forcedPosition === undefined) this._forcedPosition = ['left', 'right'].includes(this.dataset.position) ? this.dataset.position : null;
    const pos = this._forcedPosition || c.position || 'right';
    this.dataset.position = pos;
    this.root.classList.toggle('left', pos === 'left');
    this.titleEl.textContent = c.name || 'Chat';
    this.avatar.firstChild.textContent = (c.name || '?').trim().charAt(0).toUpperCase() || '?';
    this._launcherLabel();
    this.panel.setAttribute('aria-label', `Chat with ${c.name || 'us'}`);
    if (c.status) this._setStatus(c.status);
    this.thread?.setWelcome(c.welcome ? { name: c.name, text: c.welcome } : null);
  }

  _setStatus(status) {
    this.status = status;
    this._renderStatus();
    this._renderCallButtons();
  }

  _renderStatus() {
    const typing = this.conv?.typing.size > 0;
    const cls = typing ? 'typing' : this.status;
    for (const d of [this.dot, this.headDot]) d.className = `dot ${cls}`;
    let text = typing ? 'typing…' : STATUS_LABEL[this.status] || '';
    // Who can answer: someone online answers calls too; otherwise the
    // visitor is told to write, and the call buttons are gone.
    if (!typing && this.status === 'offline') text = 'Nobody is available right now · leave a message';
    if (!typing && (this.status === 'away' || this.status === 'busy')) text = `${STATUS_LABEL[this.status]} · leave a message`;
    if (!typing && this.status === 'online') text = 'Online · we reply quickly';
    this.statusEl.textContent = text;
    this.dot.title = STATUS_LABEL[this.status] || '';
  }

  // --- theme ---

  _theme() {
    const forced = this.getAttribute('theme');
    if (forced === 'day' || forced === 'night') return forced;
    let chosen = null;
    try {
      chosen = localStorage.getItem(THEME_KEY);
    } catch { /* no storage */ }
    if (chosen === 'day' || chosen === 'night') return chosen;
    return forced === 'time' ? clockTheme() : autoTheme();
  }

  _applyTheme() {
    const t = this._theme();
    this.root.classList.toggle('pl-day', t === 'day');
    this.root.classList.toggle('pl-night', t === 'night');
    this.themeBtn.innerHTML = t === 'day' ? icons.moon : icons.sun;
    const label = t === 'day' ? 'Switch to the night theme' : 'Switch to the day theme';
    this.themeBtn.setAttribute('aria-label', label);
    this.themeBtn.title = label;
  }

  _toggleTheme() {
    const next = this._theme() === 'day' ? 'night' : 'day';
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch { /* kept for this page only */ }
    this.setAttribute('theme', next);
    this._applyTheme();
  }

  // --- opening and closing ---

  get isOpen() {
    return this.page || !this.panel.hidden;
  }

  toggle() {
    this.isOpen ? this.close() : this.open();
  }

  open() {
    if (this.page) return;
    this.panel.hidden = false;
    this.classList.add('open');
    this.root.classList.add('open');
    this.launcher.setAttribute('aria-expanded', 'true');
    this._clearUnread();
    const ready = this.client || this._gone ? Promise.resolve() : this._connect();
    if (this.call) this.call.focus(); // back to a call that went on while the panel was hidden
    else if (!this.thread) this.closeBtn?.focus(); // until the conversation is there
    ready.then(() => requestAnimationFrame(() => {
      if (!this.isOpen || !this.thread) return;
      this.thread.render(true);
      this.thread.focus();
      this._markRead();
    }));
  }

  close() {
    if (this.page || this.panel.hidden) return;
    this.panel.hidden = true;
    this.classList.remove('open');
    this.root.classList.remove('open');
    this.launcher.setAttribute('aria-expanded', 'false');
    this.conv?.setTyping(false);
    this.launcher.focus();
  }

  _panelKey(e) {
    if (e.key === 'Escape' && !e.defaultPrevented) {
      e.preventDefault();
      this.close();
    }
  }

  _clearUnread() {
    this.unread = 0;
    this.badge.hidden = true;
    this._launcherLabel();
  }

  _launcherLabel() {
    const name = this.cfg?.name || 'us';
    const inCall = this.call && this.call.session.state !== 'ended';
    this.launcher.setAttribute('aria-label', inCall ? `Return to the call with ${name}` : `Open chat with ${name}${this.unread ? ` (${this.unread} unread)` : ''}`);
  }

  _bumpUnread(n = 1) {
    this.unread += n;
    this.badge.textContent = this.unread > 9 ? '9+' : String(this.unread);
    this.badge.hidden = this.unread === 0;
    this._launcherLabel();
  }

  // --- the session ---

  async _start() {
    if (!this.address) return this._showGone('No chat address', 'This chat widget has no data-address.');
    this.session = visitorSession({ url: this.server, address: this.address, identity: this.getAttribute('identity') || undefined });
    // A returning visitor (or one the site identifies) connects at once to
    // see replies that came while they were away; a new one only when they
    // open the chat, so that page views make no visitors.
    const returning = !!this.getAttribute('identity') || hasTicket(this.server);
    try {
      if (returning || this.page || this.hasAttribute('open')) await this._connect();
      else this._applyConfig(await this._fetchConfig());
    } catch (e) {
      this._failed(e);
    }
    if (this.hasAttribute('open')) this.open();
  }

  _fetchConfig() {
    const early = this._prefetched; // the loader asked while the modules loaded
    this._prefetched = null;
    return widgetConfig(this.server, this.address, early);
  }

  async _connect() {
    if (this._connecting) return this._connecting;
    this._connecting = (async () => {
      // Start from what the last session knew: the conversation shows and
      // takes messages at once, even with the server down; the client
      // opens a fresh session (same visitor) as it connects.
      let s = this.session.last();
      if (!s) {
        try {
          s = await this.session.open();
        } catch (e) {
          this._connecting = null;
          return this._failed(e);
        }
      }
      this._applyConfig(s.inbox);
      const client = new Client({ url: this.server, token: (o) => this.session.token(o), storageKey: `parley:${this.server}:${s.user.id}` });
      this.client = client;
      if (s.conversation_id) client.outbox.retarget(INBOX, s.conversation_id);
      this.thread = new Thread({
        client, label: `Messages with ${s.inbox.name}`,
        names: (id) => (id === client.me?.id || id === s.user.id ? 'You' : this.cfg.name),
        welcome: s.inbox.welcome ? { name: s.inbox.name, text: s.inbox.welcome } : null,
        onSeen: () => this._markRead(), // scrolled down to what came while reading further up
      });
      this.body.replaceChildren(this.thread.el, h('div', { class: 'footer' }, 'Chat by ', h('a', { href: 'https://github.com/parley-chat/parley', target: '_blank', rel: 'noopener' }, 'Parley')));
      this._useConversation(client.conversation(s.conversation_id || INBOX));
      this.session.onOpen = (fresh) => this._applyConfig(fresh.inbox);
      client.addEventListener('state', () => this._renderConnection());
      client.addEventListener('connected', () => {
        mark('parley:connected');
        this._online();
      });
      client.addEventListener('inbox_opened', (e) => {
        this.session.remember({ conversation_id: e.detail.id });
        this._useConversation(e.detail);
        this._online(); // load it (another tab may have opened it first) and mark it read
      });
      client.addEventListener('inbox:status', (e) => this._setStatus(e.detail.status));
      client.addEventListener('inbox:updated', (e) => this._applyConfig(e.detail));
      client.addEventListener('revoked', () => this._revoked());
      if (client.calls && CAN_CALL) {
        client.calls.addEventListener('incoming', (e) => this._showCall(e.detail));
        client.calls.addEventListener('outgoing', (e) => this._showCall(e.detail));
      }
      this._renderCallButtons();
      client.addEventListener('retry', (e) => e.detail.error?.code === 'rate_limited' && this._renderConnection('Too many attempts from your network; retrying shortly.'));
      client.addEventListener('send_failed', (e) => this.thread.notice(failure(e.detail.error, e.detail.item)));
      client.addEventListener('message', (e) => {
        if (e.detail.conversation_id !== this.conv?.id || e.detail.sender_id === client.me?.id) return;
        if (this.isOpen && document.visibilityState === 'visible') this._markRead();
        else this._bumpUnread();
      });
      document.addEventListener('visibilitychange', () => this._markRead());
      client.connect();
      this._renderConnection();
      if (this.page) this.thread.focus();
    })();
    return this._connecting;
  }

  _useConversation(conv) {
    this.conv?.removeEventListener('typing', this._onTyping);
    this.conv = conv;
    this._onTyping = () => this._renderStatus();
    conv.addEventListener('typing', this._onTyping);
    this.thread.setConversation(conv);
  }

  // _online runs on every (re)connection: load the conversation once, and
  // read how far the team has read (for the ticks).
  async _online() {
    const c = this.conv;
    if (this.client.inboxStatus) this._setStatus(this.client.inboxStatus);
    if (!c || c.id === INBOX) return;
    try {
      if (!c.loaded) {
        const { conversations } = await this.client.request('chat:conversations');
        const info = conversations.find((x) => x.id === c.id);
        if (info) this.client.conversation(c.id, info);
        await c.loadLatest();
        if (!this.isOpen) {
          // The server counts what is unread (the newest page may hold only part of it).
          const mine = this.client.me?.id;
          const n = info ? info.unread || 0 : c.bySeq.filter((m) => m.sender_id !== mine && m.seq > c.myReadSeq() && !m.deleted_at).length;
          if (n > this.unread) this._bumpUnread(n - this.unread);
        }
      }
      this._markRead();
    } catch { /* offline again: the next connection retries */ }
  }

  // _markRead: read is what the visitor can see, so not while they read
  // further up (the thread's "new messages" button counts those).
  _markRead() {
    if (this.isOpen && document.visibilityState === 'visible' && this.conv?.loaded && this.thread?.atBottom) this.conv.markRead();
  }

  _renderConnection(note) {
    const st = this.client?.state;
    const queued = this.client?.outbox.items.length || 0;
    let text = '';
    if (st === 'offline') text = queued ? `You're offline. ${queued === 1 ? 'Your message' : `${queued} messages`} will be sent when the connection is back.` : "You're offline. Reconnecting…";
    else if (st === 'connecting' && this._everConnected) text = 'Reconnecting…';
    if (note && st !== 'connected') text = note;
    if (st === 'connected') this._everConnected = true;
    this.banner.textContent = text;
    this.banner.hidden = !text;
  }

  _failed(e) {
    if (e?.code === 'address_invalid') return this._revoked();
    if (e?.code === 'rate_limited') {
      const wait = (e.retryAfter || 30) * 1000;
      this._showBanner(`Too many attempts from your network. Trying again in ${Math.ceil(wait / 1000)} s.`, true);
      setTimeout(() => this._retryStart(), wait);
      return;
    }
    this._showBanner('The chat is not reachable right now. Retrying…', true);
    this._retryDelay = Math.min(60000, (this._retryDelay || 2000) * 2);
    setTimeout(() => this._retryStart(), this._retryDelay);
  }

  _retryStart() {
    this.banner.hidden = true;
    this._start();
  }

  _showBanner(text, error) {
    this.banner.textContent = text;
    this.banner.classList.toggle('error', !!error);
    this.banner.hidden = false;
  }

  _revoked() {
    this._gone = true;
    this.client?.calls?.current?.hangup();
    this.client?.close();
    this._setStatus('offline');
    this._showGone('This address is no longer valid', 'This chat address is no longer valid. Ask the site for its current link.');
  }

  _showGone(title, text) {
    this._renderCallButtons();
    this.banner.hidden = true;
    this.body.replaceChildren(h('div', { class: 'gone', role: 'alert' }, h('div', {}, h('h3', {}, title), h('p', {}, text))));
    this.statusEl.textContent = 'Unavailable';
  }

  // --- calls ---

  // _canCall: the visitor can call the team once the chat is connected
  // (the conversation exists, or opens with the call) and someone of the
  // team is online to answer (the inbox's status, inbox:status).
  _canCall() {
    return !!this.client?.calls && CAN_CALL && !this._gone && this.status === 'online';
  }

  _renderCallButtons() {
    if (!this.videoBtn) return;
    const can = this._canCall();
    const busy = !!this._placing || !!this.call;
    for (const [btn, media] of [[this.videoBtn, 'video'], [this.audioBtn, 'audio']]) {
      btn.hidden = !can && !busy; // a call under way keeps them, disabled
      btn.disabled = busy;
      btn.toggleAttribute('aria-busy', this._placing === media);
      const label = media === 'video' ? 'Start a video call' : 'Start an audio call';
      btn.title = busy && !this._placing ? 'You are in a call' : label;
    }
  }

  async _call(media) {
    const client = this.client;
    if (!client?.calls || this._placing || this.call) return;
    this._placing = media;
    this._renderCallButtons();
    const mod = loadCalls(); // the screen's code loads while the camera is asked for
    try {
      (await mod.catch(() => null))?.unlockCallAudio();
      let id = this.conv?.id;
      if (!id || id === INBOX) id = (await client.openInbox()).id;
      const session = await client.calls.start(id, media);
      await this._showCall(session);
    } catch (e) {
      this.thread?.notice(callProblem(e, media));
    } finally {
      this._placing = null;
      this._renderCallButtons();
    }
  }

  // _showCall puts the call screen over the panel (one call at a time).
  async _showCall(session) {
    if (this.call?.session === session || this._callFor === session) return;
    if (this.call && this.call.session.state !== 'ended') return;
    this._callFor = session;
    let mod;
    try {
      mod = await loadCalls();
    } catch {
      this._callFor = null;
      return;
    }
    if (this._callFor !== session) return;
    this._callFor = null;
    if (this.call) this._closeCall(this.call, false);
    if (!this._callSheet) {
      this._callSheet = new CSSStyleSheet();
      this._callSheet.replaceSync(mod.callCSS);
      this.shadow.adoptedStyleSheets = [...this.shadow.adoptedStyleSheets, this._callSheet];
    }
    if (session.direction === 'in' && !this.isOpen) this.open();
    const screen = new mod.CallScreen({
      session,
      names: () => this.cfg?.name || 'us',
      avatar: 'accent',
      onClose: () => this._closeCall(screen),
      onMinimize: this.page ? null : () => this.close(),
      endedHint: (reason, s) => (s.direction === 'out' ? TEAM_HINT[reason] || '' : ''),
    });
    this.call = screen;
    this._callState = () => this._renderCall();
    session.addEventListener('state', this._callState);
    this.panel.append(screen.el);
    for (const el of [this.header, this.banner, this.body]) el.inert = true;
    this._renderCall();
    this._renderCallButtons();
  }

  // _renderCall: the panel grows for a video call (desktop), and the
  // launcher shows that a call goes on while the panel is hidden.
  _renderCall() {
    const s = this.call?.session;
    const on = !!s && s.state !== 'ended';
    this.root.classList.toggle('in-call', on);
    this.root.classList.toggle('call-video', on && s.media === 'video' && (s.state === 'active' || s.state === 'connecting'));
    this._launcherLabel();
  }

  _closeCall(screen, refocus = true) {
    if (!screen) return;
    const current = screen === this.call;
    const hadFocus = screen.el.contains(this.shadow.activeElement);
    screen.session.removeEventListener('state', this._callState);
    screen.destroy();
    if (!current) return;
    this.call = null;
    for (const el of [this.header, this.banner, this.body]) el.inert = false;
    this._renderCall();
    this._renderCallButtons();
    if (refocus && hadFocus && this.isOpen) {
      if (matchMedia('(pointer: coarse)').matches) this.videoBtn.focus();
      else this.thread?.focus();
    }
  }
}

let callsModule = null;
function loadCalls() {
  callsModule ||= import('../ui/callscreen.js').catch((e) => {
    callsModule = null;
    throw e;
  });
  return callsModule;
}

// What a visitor reads when their call to the team did not happen.
const TEAM_HINT = {
  missed: 'Nobody on the team could answer just now. Write to us here and we will get back to you.',
  busy: 'Everyone on the team is on another call. Try again in a few minutes, or write to us here.',
  declined: 'The team cannot talk right now. Write to us here and we will get back to you.',
  failed: 'Check your connection and try again.',
};

function callProblem(e, media) {
  switch (e?.code) {
    case 'media_denied': return media === 'audio'
      ? 'The microphone is not available. Allow it in your browser to call.'
      : 'The camera or microphone is not available. Allow them in your browser to call.';
    case 'in_call': return 'You are already in a call.';
    case 'offline': return "You're offline. Call again when the connection is back.";
    default: return `The call could not start: ${e?.message || 'unknown error'}`;
  }
}

// mark records a performance mark a site (or our benchmark) can read.
function mark(name) {
  try {
    if (!performance.getEntriesByName(name).length) performance.mark(name);
  } catch { /* no User Timing */ }
}

function hasTicket(server) {
  try {
    return !!localStorage.getItem('parley.visitor:' + server);
  } catch {
    return false;
  }
}

function failure(err, item) {
  const what = item?.name ? `“${item.name}”` : 'Your message';
  switch (err?.code) {
    case 'file_too_large': return `${what} is too large to send.`;
    case 'unsupported_type': return `${what} is not a kind of file that can be sent here.`;
    case 'message_too_large': return 'That message is too long.';
    default: return `${what} could not be sent: ${err?.message || 'unknown error'}`;
  }
}

if (!customElements.get('parley-chat')) customElements.define('parley-chat', ParleyChat);

// mount adds the widget to the page (the loader calls it).
export function mount(opts) {
  if (!opts.address) {
    console.error('Parley: the widget script needs data-address="…"');
    return null;
  }
  const el = document.createElement('parley-chat');
  el.setAttribute('server', opts.server);
  el.setAttribute('address', opts.address);
  if (opts.identity) el.setAttribute('identity', opts.identity);
  if (opts.color) el.setAttribute('color', opts.color);
  if (opts.theme) el.setAttribute('theme', opts.theme);
  if (opts.position) el.dataset.position = opts.position;
  if (opts.open) el.setAttribute('open', '');
  el._prefetched = opts.config || null;
  document.body.append(el);
  return el;
}
