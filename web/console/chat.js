// The open conversation: a header (the visitor, their presence or
// "typing…", where they are, the details toggle) over the shared Thread.
// It loads the latest page on open and marks the conversation read while
// it is on screen.

import { h } from '../ui/dom.js';
import { icons } from '../ui/icons.js';
import { STATUS_LABEL } from '../ui/format.js';
import { Thread } from '../ui/thread.js';
import { more, avatar, setAvatar, since, explain } from './kit.js';

const callIcon = icons.phone.replace('width="14" height="14"', 'width="20" height="20"');

export class ChatView {
  constructor(app) {
    this.app = app;
    this.conv = null;
    this.drafts = new Map(); // conversation id → unsent text
    const client = app.client;
    this.thread = new Thread({
      client,
      label: 'Messages',
      placeholder: 'Write a reply…',
      names: (id) => app.nameOf(id, this.conv),
      canDelete: () => app.isOwner,
      // Ticks: "read" here means the visitor read it, not a teammate.
      readUpTo: (conv) => conv.reads[app.visitorOf.get(conv.id)] || 0,
      onSeen: () => this.readIfOpen(), // scrolled down to what came while reading further up
    });

    this.backBtn = h('button', { type: 'button', class: 'icon-btn back', 'aria-label': 'Back to the conversations', title: 'Back to the conversations', html: icons.back, onclick: () => app.back() });
    this.dot = h('span', { class: 'dot offline' });
    this.avatar = avatar('Visitor', { size: 'md', dot: this.dot });
    this.title = h('h1', { class: 'chat-title', id: 'chat-title' }, '');
    this.sub = h('p', { class: 'chat-sub' }); // the thread announces typing itself
    this.detailsBtn = h('button', {
      type: 'button', class: 'icon-btn details-toggle', 'aria-controls': 'details', html: more.panel,
      onclick: () => app.toggleDetails(),
    });
    this.videoCallBtn = h('button', { type: 'button', class: 'icon-btn call-start', 'aria-label': 'Start a video call', title: 'Start a video call', html: icons.video, hidden: true, onclick: () => app.calls?.start('video') });
    this.audioCallBtn = h('button', { type: 'button', class: 'icon-btn call-start', 'aria-label': 'Start an audio call', title: 'Start an audio call', html: callIcon, hidden: true, onclick: () => app.calls?.start('audio') });
    this.header = h('header', { class: 'chat-head' }, this.backBtn, this.avatar,
      h('div', { class: 'chat-heading' }, this.title, this.sub), this.videoCallBtn, this.audioCallBtn, this.detailsBtn);
    this.loading = h('div', { class: 'chat-loading', role: 'status', hidden: true });
    this.pane = h('div', { class: 'chat-pane', hidden: true }, this.header, h('div', { class: 'chat-body' }, this.thread.el, this.loading));
    this.empty = h('div', { class: 'chat-empty' },
      h('div', { class: 'empty-art big', 'aria-hidden': 'true', html: icons.inbox }),
      h('h2', {}, 'Pick a conversation'),
      h('p', {}, 'Choose a visitor on the left to read and reply. New messages ring and move to the top.'));
    this.el = h('main', { id: 'main', class: 'main glass', tabindex: '-1', 'aria-labelledby': 'chat-title' }, this.empty, this.pane);

    this._onChange = () => this._scheduleRead();
    this._onTyping = () => this.renderHeader();
  }

  destroy() {
    this._detach();
  }

  _detach() {
    if (!this.conv) return;
    this.conv.removeEventListener('change', this._onChange);
    this.conv.removeEventListener('typing', this._onTyping);
    this.drafts.set(this.conv.id, this.thread.draft);
    this.conv.setTyping(false);
  }

  // setCovered: a call screen lies over the conversation; what is under it
  // is out of reach (focus, clicks, screen readers).
  setCovered(on) {
    this.pane.inert = on;
    this.empty.inert = on;
  }

  focus() {
    if (matchMedia('(pointer: coarse)').matches) this.el.focus(); // no keyboard popping up on phones
    else this.thread.focus();
  }

  open(id) {
    this._detach();
    const app = this.app;
    if (!id) {
      this.conv = null;
      this.thread.setConversation(null);
      this.pane.hidden = true;
      this.empty.hidden = false;
      this.el.setAttribute('aria-label', 'No conversation open');
      this.el.removeAttribute('aria-labelledby');
      return;
    }
    const conv = app.client.conversation(id);
    this.conv = conv;
    this.empty.hidden = true;
    this.pane.hidden = false;
    this.el.removeAttribute('aria-label');
    this.el.setAttribute('aria-labelledby', 'chat-title');
    this.thread.setConversation(conv);
    this.thread.setDraft(this.drafts.get(id));
    this.thread.textarea.placeholder = `Reply to ${conv.info.name || 'the visitor'}…`;
    conv.addEventListener('change', this._onChange);
    conv.addEventListener('typing', this._onTyping);
    this._failed = null;
    this.renderHeader();
    this.load();
  }

  // load fetches the newest page once (and the read positions, for the
  // ticks), when connected; the app calls it again on every connection.
  async load() {
    const conv = this.conv;
    if (!conv) return;
    if (conv.loaded) {
      this._setLoading('');
      this.readIfOpen();
      return;
    }
    const client = this.app.client;
    if (!client.connected) {
      this._setLoading('Waiting for the connection…');
      return;
    }
    if (this._loadingId === conv.id) return;
    this._loadingId = conv.id;
    this._setLoading('Loading messages…');
    try {
      const info = await client.api('GET', '/conversations/' + encodeURIComponent(conv.id));
      client.conversation(conv.id, info);
      await conv.loadLatest();
      if (this.conv === conv) {
        this._setLoading('');
        this.thread.render(true);
        this.readIfOpen();
        this.renderHeader();
      }
    } catch (e) {
      if (this.conv === conv) {
        if (e.code === 'not_found' || e.status === 404) this._setLoading('This conversation does not exist, or you cannot see it.', true);
        else this._setLoading(explain(e, 'The messages were not loaded'), true);
      }
    } finally {
      if (this._loadingId === conv.id) this._loadingId = null;
    }
  }

  _setLoading(text, error = false) {
    this.loading.replaceChildren(text && !error ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : '', text);
    this.loading.classList.toggle('error', error);
    this.loading.hidden = !text;
  }

  _scheduleRead() {
    clearTimeout(this._readTimer);
    this._readTimer = setTimeout(() => this.readIfOpen(), 120);
  }

  // readIfOpen marks the open conversation read when someone can see it:
  // not while the agent reads further up (new messages stay unread).
  readIfOpen() {
    const conv = this.conv;
    if (!conv?.loaded || document.visibilityState !== 'visible' || !this.app.isOpen(conv.id) || !this.thread.atBottom) return;
    conv.markRead();
    if (conv.myReadSeq() >= (conv.info.last_seq || conv.lastSeq) && conv.info.unread) {
      conv.info.unread = 0;
      this.app.changed();
    } else if (conv.info.unread === 0) this.app.changed();
  }

  renderHeader() {
    const app = this.app;
    const desktop = matchMedia('(min-width: 1000px)').matches;
    const open = app.detailsOpen();
    this.detailsBtn.setAttribute('aria-expanded', String(open && !!this.conv));
    const label = open ? 'Hide visitor details' : 'Show visitor details';
    this.detailsBtn.setAttribute('aria-label', label);
    this.detailsBtn.title = label;
    this.detailsBtn.classList.toggle('active', open && desktop);
    const calls = app.calls;
    for (const [btn, media] of [[this.videoCallBtn, 'video'], [this.audioCallBtn, 'audio']]) {
      btn.hidden = !calls?.supported;
      btn.disabled = !!calls?.busy;
      btn.toggleAttribute('aria-busy', calls?.placing === media);
      const label = media === 'video' ? 'Start a video call' : 'Start an audio call';
      btn.title = calls?.busy && !calls.placing ? 'You are in a call' : label;
    }
    const conv = this.conv;
    if (!conv) return;
    const name = conv.info.name || 'Visitor';
    if (this.title.textContent !== name) {
      this.title.textContent = name;
      setAvatar(this.avatar, name);
      this.thread.textarea.placeholder = `Reply to ${name}…`;
    }
    const typing = [...conv.typing].some((u) => !app.isStaff(u));
    const p = app.visitorPresence(conv.id);
    const status = p?.status || (app.visitorOf.has(conv.id) ? 'offline' : '');
    this.dot.className = `dot ${typing ? 'typing' : status || 'offline'}`;
    const d = app.details.get(conv.id);
    let text;
    if (typing) text = 'typing…';
    else if (status === 'online') text = d?.page_title ? `Online · on “${d.page_title}”` : 'Online now';
    else if (status && status !== 'offline') text = STATUS_LABEL[status];
    else {
      const seen = p?.last_seen || d?.last_seen;
      text = seen ? `Offline · last seen ${since(seen)}` : 'Offline';
    }
    this.sub.textContent = text;
    this.sub.classList.toggle('is-typing', typing);
  }
}
