// The console's app: the shell (sidebar with the conversation list, the
// open conversation, the visitor's details), the SDK Client and what it
// reports, and the state the views share — the team, the visitors behind
// the conversations, the inbox settings and the selection (#c=cnv_… in
// the URL, so a reload reopens it).

import { Client } from '../sdk/client.js';
import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { STATUS_LABEL } from '../ui/format.js';
import { more, avatar, toast, explain, preview } from './kit.js';
import { theme, toggleTheme, onTheme, setAccent } from './theme.js';
import { Notifier, setTitle, syncPush } from './notify.js';
import { ConversationList } from './list.js';
import { ChatView } from './chat.js';
import { DetailsPanel } from './details.js';
import { CallManager } from './calls.js';
import { RoomManager } from './rooms.js';

const DESKTOP = matchMedia('(min-width: 1000px)');
const PHONE = matchMedia('(max-width: 699.98px)');
const DETAILS_KEY = 'parley.console.details';
const PRESENCE_BATCH = 100;
const NOTIFY_FRESH_MS = 2 * 60 * 1000; // older messages (a replay after a reconnect) do not ring
const RANK = { online: 0, away: 1, busy: 2, offline: 3 };
// Failures the connection or the sign-in flow already deal with.
const QUIET = new Set(['offline', 'unauthenticated', 'token_expired', 'timeout']);

export class App {
  constructor({ root, session, onSignOut }) {
    this.root = root;
    this.session = session;
    this.onSignOut = onSignOut;
    this.me = session.user;
    this.team = new Map(); // user id → TeamMember
    this.visitorOf = new Map(); // conversation id → the visitor's user id
    this.details = new Map(); // conversation id → VisitorDetails
    this.settings = null;
    this.inboxStatus = null;
    this.selected = null;
    this.listLoaded = false;
    this.hasMore = false;
    this.notifier = new Notifier();
  }

  get isOwner() {
    return this.session.isOwner;
  }

  isStaff(id) {
    return id === this.me.id || this.team.has(id);
  }

  // nameOf: "You", a teammate's name, or the visitor (the conversation's name).
  nameOf(id, conv) {
    if (id === this.me.id) return 'You';
    const t = this.team.get(id);
    if (t) return t.user.display_name || t.user.name;
    return conv?.info.name || 'Visitor';
  }

  // inboxConversations: the visitor conversations, newest activity first.
  inboxConversations() {
    const out = [];
    for (const c of this.client.convs.values()) if (c.info.kind === 'inbox') out.push(c);
    return out.sort((a, b) => activity(b) - activity(a));
  }

  presenceOf(userId) {
    return userId ? this.client.presence.get(userId) || null : null;
  }

  visitorPresence(convId) {
    return this.presenceOf(this.visitorOf.get(convId));
  }

  // --- start and stop ---

  start() {
    this.ac = new AbortController();
    const signal = this.ac.signal;
    const client = new Client({
      url: location.origin,
      token: (o) => this.session.token(o, client.token),
      storageKey: 'parley.console:' + this.me.id,
    });
    this.client = client;
    this.list = new ConversationList(this);
    this.chat = new ChatView(this);
    this.aside = new DetailsPanel(this);
    this._build();
    this.calls = new CallManager(this);
    this.rooms = new RoomManager(this);

    const on = (target, type, f) => target.addEventListener(type, f, { signal });
    on(client, 'state', () => this._renderConnection());
    on(client, 'connected', (e) => this._connected(e.detail));
    on(client, 'message', (e) => this._message(e.detail));
    on(client, 'chat:conversation', (e) => this._newConversation(e.detail));
    on(client, 'chat:typing', (e) => this._typing(e.detail));
    on(client, 'chat:read', (e) => this._read(e.detail));
    on(client, 'chat:message_deleted', (e) => this._edited(e.detail));
    on(client, 'chat:message_edited', (e) => this._edited(e.detail));
    on(client, 'chat:user_status', (e) => this._status(e.detail));
    on(client, 'inbox:settings', (e) => this.applySettings(e.detail));
    on(client, 'inbox:visitor', (e) => this._visitor(e.detail));
    on(client, 'inbox:status', (e) => this._inboxStatus(e.detail.status));
    on(client, 'send_failed', (e) => this._sendFailed(e.detail));
    on(window, 'hashchange', () => this._fromHash());
    on(window, 'popstate', () => this._fromHash());
    on(document, 'visibilitychange', () => this._visibility());
    on(document, 'keydown', (e) => this._key(e));
    on(this.notifier, 'change', () => {
      this._renderBell();
      syncPush(client, this.notifier.state === 'on');
    });
    client.addEventListener('connected', () => this.notifier.state === 'on' && syncPush(client, true), { once: true, signal });
    on(this.session, 'change', () => {
      if (this.session.user && this.session.user.id !== this.me.id) location.reload(); // another tab signed in as someone else
      else client.token = this.session.data?.token || client.token;
    });
    if (navigator.serviceWorker) on(navigator.serviceWorker, 'message', (e) => {
      if (e.data?.type === 'parley:open' && e.data.conversation_id) this.select(e.data.conversation_id, { push: PHONE.matches });
    });
    on(DESKTOP, 'change', () => this._layout());
    on(PHONE, 'change', () => this._layout());
    this.session.keepFresh(signal);
    this._minute = setInterval(() => this._tick(), 30000);

    this.teamReady = this.loadTeam();
    this.loadSettings();
    client.connect();
    this._renderConnection();
    this._fromHash();
    this._layout();
  }

  destroy() {
    this.calls?.destroy();
    this.rooms?.destroy();
    this.ac?.abort();
    clearInterval(this._minute);
    this.client?.close();
    this.chat?.destroy();
    this.aside?.destroy();
    this.settingsView?.destroy();
    setTitle(0);
    this.root.replaceChildren();
  }

  // --- the shell ---

  _build() {
    const me = this.me;
    this.bellBtn = h('button', { type: 'button', class: 'icon-btn', onclick: () => this._bell() });
    this.roomsBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Rooms and broadcasts', title: 'Rooms and broadcasts', 'aria-haspopup': 'dialog', html: icons.users, onclick: () => this.rooms.openList(this.roomsBtn) });
    this.settingsBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Settings', title: 'Settings', 'aria-haspopup': 'dialog', html: icons.settings, onclick: () => this.openSettings() });
    this.themeBtn = h('button', { type: 'button', class: 'icon-btn', onclick: () => toggleTheme() });
    const signOutBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Sign out', title: 'Sign out', html: icons.logout, onclick: () => this.signOut() });
    this.inboxName = h('span', { class: 'brand-sub' }, 'Inbox');

    this.myDot = h('span', { class: 'dot offline' });
    this.myAvatar = avatar(me.display_name || me.name, { size: 'sm', dot: this.myDot });
    this.statusSelect = h('select', {
      'aria-label': 'Your status',
      title: 'Your status. Visitors see the inbox as online when anyone on the team is online; otherwise as away, busy or offline.',
      onchange: () => this._setStatus(this.statusSelect.value),
    },
    h('option', { value: 'online' }, 'Online'), h('option', { value: 'away' }, 'Away'),
    h('option', { value: 'busy' }, 'Busy'), h('option', { value: 'offline', title: 'Appear offline while connected' }, 'Offline'));
    this.statusSelect.value = 'online';
    this.connEl = h('span', { class: 'conn', role: 'status' });
    this.inboxStatusEl = h('span', { class: 'inbox-status' });

    const side = h('section', { class: 'side glass', 'aria-label': 'Inbox' },
      h('header', { class: 'side-head' },
        h('div', { class: 'brand' }, h('span', { class: 'mark', 'aria-hidden': 'true' }),
          h('div', { class: 'brand-text' }, h('strong', {}, 'Parley'), this.inboxName)),
        h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Console' }, this.bellBtn, this.roomsBtn, this.settingsBtn, this.themeBtn, signOutBtn)),
      h('div', { class: 'me' }, this.myAvatar,
        h('div', { class: 'me-text' }, h('strong', {}, me.display_name || me.name), h('span', { class: 'me-sub' }, this.connEl, this.inboxStatusEl)),
        h('label', { class: 'status-pick' }, h('span', { class: 'sr-only' }, 'Your status'), this.statusSelect)),
      this.list.searchEl,
      this.list.el);

    this.shell = h('div', { class: 'shell no-conv', dataset: { pane: 'list' } }, side, this.chat.el, this.aside.el);
    const skip = h('a', { class: 'skip', href: '#main', onclick: (e) => {
      e.preventDefault();
      (this.selected ? this.chat.thread.textarea : this.list.firstFocusable())?.focus();
    } }, this.selected ? 'Skip to the conversation' : 'Skip to the conversations');
    this.root.classList.remove('boot');
    this.root.removeAttribute('aria-busy');
    this.root.replaceChildren(skip, this.shell);

    const paintTheme = (t) => {
      this.themeBtn.innerHTML = t === 'day' ? icons.moon : icons.sun;
      const label = t === 'day' ? 'Switch to the night theme' : 'Switch to the day theme';
      this.themeBtn.setAttribute('aria-label', label);
      this.themeBtn.title = label;
    };
    paintTheme(theme());
    const off = onTheme(paintTheme);
    this.ac.signal.addEventListener('abort', off);
    this._renderBell();
    this.list.render();
  }

  _layout() {
    this.shell.classList.toggle('details-closed', !this.detailsOpen());
    this.chat.renderHeader();
  }

  // detailsOpen: on a desktop the panel stays open unless collapsed
  // (remembered); on smaller screens it is an overlay opened on demand.
  detailsOpen() {
    if (DESKTOP.matches) {
      try {
        return localStorage.getItem(DETAILS_KEY) !== 'closed';
      } catch {
        return true;
      }
    }
    return !!this._overlay;
  }

  toggleDetails(force) {
    const open = force ?? !this.detailsOpen();
    if (DESKTOP.matches) {
      try {
        localStorage.setItem(DETAILS_KEY, open ? 'open' : 'closed');
      } catch { /* this page only */ }
    } else {
      this._overlay = open;
      this.shell.dataset.pane = open ? 'details' : this.selected ? 'main' : 'list';
    }
    this._layout();
    if (open && !DESKTOP.matches) this.aside.focus();
    else if (!open) this.chat.detailsBtn.focus();
  }

  _renderBell() {
    const st = this.notifier.state;
    const label = {
      default: 'Turn on notifications', on: 'Notifications are on (click to mute)', off: 'Notifications are muted (click to turn on)',
      denied: 'Notifications are blocked in this browser', sound: 'Sound is on (click to mute)', unsupported: 'Notifications',
    }[st] || 'Notifications';
    this.bellBtn.innerHTML = st === 'off' || st === 'denied' ? more.bellOff : icons.bell;
    this.bellBtn.setAttribute('aria-label', label);
    this.bellBtn.title = label;
    this.bellBtn.classList.toggle('attention', st === 'default');
    this.bellBtn.setAttribute('aria-pressed', String(st === 'on' || st === 'sound'));
  }

  async _bell() {
    if (this.notifier.state === 'denied') {
      toast('Notifications are blocked for this site: allow them in the browser\'s site settings.', true);
      return;
    }
    const st = await this.notifier.toggle();
    toast({ on: 'Notifications are on: you will hear a chime and see new messages.', off: 'Notifications are muted.', denied: 'Notifications were not allowed.', sound: 'The chime is on.' }[st] || '');
  }

  _renderConnection() {
    const st = this.client.state;
    const [text, cls] = {
      connected: ['Connected', 'ok'], connecting: [this._everConnected ? 'Reconnecting…' : 'Connecting…', 'wait'],
      offline: ['Offline · retrying', 'bad'], closed: ['Signed out', 'bad'], idle: ['Connecting…', 'wait'], revoked: ['Disconnected', 'bad'],
    }[st] || ['', ''];
    this.connEl.textContent = text;
    this.connEl.className = 'conn ' + cls;
    this.shell.classList.toggle('is-offline', st === 'offline');
    if (st === 'connected') this._everConnected = true;
  }

  // The inbox's status (what visitors see) is worth a word only when it
  // is not the agent's own: away while a teammate keeps the inbox online.
  _inboxStatus(status) {
    if (status) this.inboxStatus = status;
    // The inbox is at least as available as we are (a status read before
    // our own connection counted may lag behind).
    let st = this.inboxStatus;
    if (this.myStatus && this.client?.connected && RANK[this.myStatus] < (RANK[st] ?? 9)) st = this.myStatus;
    const show = st && this.myStatus && st !== this.myStatus;
    this.inboxStatusEl.textContent = show ? ` · visitors see ${STATUS_LABEL[st]?.toLowerCase() || st}` : '';
    this.statusSelect.title = 'Your status. Visitors see the inbox as online when anyone on the team is online' +
      (st ? ` (now: ${STATUS_LABEL[st]?.toLowerCase() || st}).` : '.');
  }

  _myStatus(status) {
    if (!status) return;
    this.myStatus = status;
    if (document.activeElement !== this.statusSelect) this.statusSelect.value = status;
    this.myDot.className = 'dot ' + status;
    this._inboxStatus();
  }

  async _setStatus(status) {
    const prev = this.myStatus || 'online';
    try {
      const p = await this.client.setStatus(status);
      this._myStatus(p.status || status);
      toast(status === 'offline' ? 'You appear offline to visitors and teammates.' : `Your status is ${STATUS_LABEL[status].toLowerCase()}.`);
    } catch (e) {
      this.statusSelect.value = prev;
      toast(explain(e, 'Your status was not changed'), true);
    }
  }

  async signOut() {
    // This device stops hearing of this user's visitors.
    await Promise.race([syncPush(this.client, false), new Promise((r) => setTimeout(r, 1500))]);
    this.onSignOut();
  }

  // --- data ---

  async loadTeam() {
    try {
      const { members } = await this.client.api('GET', '/team');
      this.team = new Map(members.map((m) => [m.user.id, m]));
      for (const m of members) if (m.status && !this.client.presence.has(m.user.id)) this.client.presence.set(m.user.id, { user_id: m.user.id, status: m.status });
      this.chat.thread.render();
      this.settingsView?.renderTeam();
    } catch (e) {
      if (!QUIET.has(e.code)) console.warn('parley: team not loaded:', e.message);
    }
  }

  async loadSettings() {
    try {
      this.applySettings(await this.client.api('GET', '/inbox/settings'));
    } catch (e) {
      if (!QUIET.has(e.code)) console.warn('parley: settings not loaded:', e.message);
    }
  }

  applySettings(s) {
    if (!s) return;
    this.settings = s;
    setAccent(s.color);
    this.inboxName.textContent = s.name || 'Inbox';
    if (s.status) this._inboxStatus(s.status);
    this.settingsView?.update(s);
  }

  async _connected(data) {
    this._myStatus(data.status);
    if (data.inbox_status) this._inboxStatus(data.inbox_status);
    await this.loadConversations();
    this.chat.load();
    this._refreshPresence();
    if (!this.settings) this.loadSettings();
    if (!this.team.size) this.teamReady = this.loadTeam();
  }

  async loadConversations() {
    try {
      const { conversations } = await this.client.request('chat:conversations');
      for (const c of conversations) this.client.conversation(c.id, c);
      this.hasMore = conversations.length >= 50;
      this._oldest = conversations.at(-1)?.updated_at;
    } catch (e) {
      if (e.code !== 'offline') toast(explain(e, 'The conversations were not loaded'), true);
      return;
    } finally {
      this.listLoaded = true;
    }
    this.chat.readIfOpen();
    this.changed();
    this._resolveVisitors();
  }

  // loadOlder pages back through older conversations (the list's end came into view).
  async loadOlder() {
    if (!this.hasMore || this._loadingOlder || !this._oldest) return;
    this._loadingOlder = true;
    try {
      const q = new URLSearchParams({ before: this._oldest, limit: '50' });
      const { conversations } = await this.client.api('GET', '/conversations?' + q);
      for (const c of conversations) if (!this.client.convs.get(c.id)?.info.kind) this.client.conversation(c.id, c);
      this.hasMore = conversations.length >= 50;
      this._oldest = conversations.at(-1)?.updated_at || this._oldest;
      this.changed();
      this._resolveVisitors();
    } catch { /* the next scroll tries again */ } finally {
      this._loadingOlder = false;
    }
  }

  // _fetchConversation learns about a conversation we only know by id
  // (a message from one older than the loaded list).
  async _fetchConversation(id) {
    if (this._fetching?.has(id)) return;
    (this._fetching ||= new Set()).add(id);
    try {
      const info = await this.client.api('GET', '/conversations/' + encodeURIComponent(id));
      this.client.conversation(id, info);
      this.changed();
      this._resolveVisitors();
    } catch { /* not ours to see */ } finally {
      this._fetching.delete(id);
    }
  }

  // _resolveVisitors finds the visitor of each conversation (its only
  // member who is not on the team) and asks for their presence.
  async _resolveVisitors() {
    await this.teamReady;
    for (const c of this.inboxConversations()) {
      const v = c.info.visitor_id || (c.info.members || []).find((u) => !this.isStaff(u));
      if (v) this.visitorOf.set(c.id, v);
    }
    await this._refreshPresence(true);
  }

  // _refreshPresence asks for the visitors' statuses (only the unknown ones
  // unless all is false: after a reconnect everything may have changed).
  async _refreshPresence(onlyUnknown = false) {
    if (!this.client.connected) return;
    const ids = [...new Set(this.visitorOf.values())].filter((u) => !onlyUnknown || !this.client.presence.has(u));
    for (let i = 0; i < ids.length; i += PRESENCE_BATCH) {
      try {
        const { users } = await this.client.request('chat:presence', { user_ids: ids.slice(i, i + PRESENCE_BATCH) });
        for (const p of users) this.client.presence.set(p.user_id, p);
      } catch { /* dots stay grey until events arrive */ }
    }
    this.changed();
  }

  // changed re-renders what depends on the conversations (batched).
  changed() {
    if (this._raf) return;
    this._raf = requestAnimationFrame(() => {
      this._raf = null;
      this.list.render();
      this.chat.renderHeader();
      this.aside.refresh();
      this._title();
    });
  }

  _title() {
    let n = 0;
    for (const c of this.inboxConversations()) n += c.info.unread || 0;
    setTitle(n);
  }

  // --- events ---

  _message(m) {
    const conv = this.client.convs.get(m.conversation_id);
    if (!conv) return;
    if (!conv.info.kind) this._fetchConversation(m.conversation_id);
    else if (conv.info.kind !== 'inbox') return; // the console is for visitor conversations
    const mine = m.sender_id === this.me.id;
    if (!mine) {
      const open = this.isOpen(conv.id);
      if (open && document.visibilityState === 'visible' && this.chat.thread.atBottom) this.chat.readIfOpen();
      else conv.info.unread = (conv.info.unread || 0) + 1;
      // The visitor is the conversation's one member who is not on the team;
      // anyone else we do not know is a teammate who joined since we loaded the team.
      const known = this.visitorOf.get(conv.id);
      const fromVisitor = known ? known === m.sender_id : !this.isStaff(m.sender_id);
      if (fromVisitor && !known) this.visitorOf.set(conv.id, m.sender_id);
      if (!fromVisitor && !this.isStaff(m.sender_id)) this.teamReady = this.loadTeam();
      const fresh = Date.now() - Date.parse(m.created_at) < NOTIFY_FRESH_MS;
      if (fromVisitor && fresh && (!open || document.visibilityState !== 'visible')) {
        this.notifier.notify({ title: conv.info.name || 'Visitor', body: preview(m), conversationId: conv.id });
      }
    }
    this.changed();
  }

  _newConversation(info) {
    if (info.kind !== 'inbox') return;
    const v = info.visitor_id || (info.members || []).find((u) => !this.isStaff(u));
    if (v) this.visitorOf.set(info.id, v);
    this.changed();
    this._refreshPresence(true);
  }

  _typing(t) {
    if (t.sender_id === this.me.id) return;
    this.changed();
  }

  _read(r) {
    const conv = this.client.convs.get(r.conversation_id);
    if (!conv || r.user_id !== this.me.id) return;
    // Read on another device: what is left unread there is at most what is after r.seq.
    const left = Math.max(0, (conv.info.last_seq || 0) - r.seq);
    conv.info.unread = Math.min(conv.info.unread || 0, left);
    this.changed();
  }

  _edited(m) {
    const conv = this.client.convs.get(m.conversation_id);
    if (conv?.info.last_message?.id === m.id) Object.assign(conv.info.last_message, m);
    this.changed();
  }

  _status(p) {
    if (p.user_id === this.me.id) this._myStatus(p.status);
    if (this.team.has(p.user_id)) {
      this.team.get(p.user_id).status = p.status;
      this.settingsView?.renderTeam();
    }
    this.aside.refresh();
    this.changed();
  }

  _visitor(d) {
    if (!d.conversation_id) return;
    this.details.set(d.conversation_id, d);
    if (d.user_id) this.visitorOf.set(d.conversation_id, d.user_id);
    if (!this.client.convs.get(d.conversation_id)?.info.kind) this._fetchConversation(d.conversation_id);
    if (d.conversation_id === this.selected) this.aside.render();
    this.changed();
  }

  _sendFailed({ item, error }) {
    const what = item?.name ? `“${item.name}”` : 'Your message';
    const why = {
      file_too_large: `${what} is too large to send.`,
      unsupported_type: `${what} is not a kind of file that can be sent.`,
      message_too_large: 'That message is too long.',
    }[error?.code] || `${what} was not sent: ${error?.message || 'unknown error'}`;
    if (item?.conversation_id === this.selected) this.chat.thread.notice(why);
    else toast(why, true);
  }

  _visibility() {
    if (document.visibilityState === 'visible') this.chat.readIfOpen();
  }

  _tick() {
    this.list.render();
    this.chat.renderHeader();
    this.aside.tick();
  }

  _key(e) {
    if (e.key === 'Escape' && !e.defaultPrevented && this._overlay && !this.settingsView?.isOpen) {
      e.preventDefault();
      this.toggleDetails(false);
    }
  }

  // --- selection ---

  isOpen(id) {
    return this.selected === id && (!PHONE.matches || this.shell.dataset.pane !== 'list');
  }

  _fromHash() {
    const id = new URLSearchParams(location.hash.slice(1)).get('c');
    if (/^#(signin|invite)=/.test(location.hash)) return;
    if (this.rooms?.fromHash()) return;
    this.select(id || null, { fromHash: true });
  }

  // select opens a conversation (null: none). On phones it pushes a
  // history entry, so the system back gesture returns to the list.
  select(id, { push = false, fromHash = false, focus = false } = {}) {
    if (!fromHash) {
      const hash = id ? '#c=' + id : '';
      if (location.hash !== hash && !(hash === '' && !location.hash)) {
        history[push ? 'pushState' : 'replaceState']({ parley: id ? 'conv' : 'list', pushed: push && !!id }, '', location.pathname + location.search + hash);
      }
    }
    const changedConv = id !== this.selected;
    this.selected = id;
    this._overlay = false;
    this.shell.classList.toggle('no-conv', !id);
    this.shell.dataset.pane = id ? 'main' : 'list';
    if (changedConv) {
      this.chat.open(id);
      this.aside.open(id);
    }
    this._layout();
    this.list.render();
    this.root.querySelector('.skip').textContent = id ? 'Skip to the conversation' : 'Skip to the conversations';
    if (id && focus) this.chat.focus();
    if (!id && PHONE.matches && !fromHash) this.list.focusSelected();
  }

  // back: from the conversation to the list (phones).
  back() {
    const prev = this.selected;
    if (history.state?.pushed) history.back(); // the entry we pushed: the system back gesture agrees

    else this.select(null);
    requestAnimationFrame(() => this.list.focusItem(prev));
  }

  // --- settings ---

  async openSettings() {
    if (!this.settingsView) {
      const { SettingsView } = await import('./settings.js');
      this.settingsView = new SettingsView(this);
    }
    this.settingsView.open(this.settingsBtn);
  }
}

function activity(c) {
  return Date.parse(c.info.last_message?.created_at || c.info.updated_at || c.info.created_at || 0) || 0;
}
