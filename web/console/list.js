// The conversation list: every visitor conversation, newest activity
// first, with the visitor's presence, the last message, the time and the
// unread count; "typing…" while the visitor types. One button per
// conversation (data-conversation), reused across renders so focus stays;
// arrow keys move between them (one tab stop for the whole list).

import { h } from '../ui/dom.js';
import { ago, STATUS_LABEL } from '../ui/format.js';
import { icons } from '../ui/icons.js';
import { more, avatar, setAvatar, preview } from './kit.js';

export class ConversationList {
  constructor(app) {
    this.app = app;
    this.items = new Map(); // conversation id → {btn, parts}
    this.query = '';
    this.search = h('input', {
      type: 'search', class: 'search-input', placeholder: 'Search conversations', 'aria-label': 'Search conversations',
      autocomplete: 'off', spellcheck: 'false',
      oninput: () => {
        this.query = this.search.value.trim().toLowerCase();
        this.render();
      },
      onkeydown: (e) => {
        if (e.key === 'ArrowDown') {
          e.preventDefault();
          this.firstFocusable()?.focus();
        } else if (e.key === 'Escape' && this.search.value) {
          e.preventDefault();
          this.search.value = '';
          this.query = '';
          this.render();
        }
      },
    });
    this.searchEl = h('div', { class: 'search' }, h('span', { class: 'search-icon', html: more.search }), this.search);
    this.heading = h('h2', { class: 'list-title', id: 'list-title' }, 'Conversations');
    this.countEl = h('span', { class: 'list-count' });
    this.listEl = h('div', { class: 'conv-list', onkeydown: (e) => this._key(e) });
    this.emptyEl = h('div', { class: 'list-empty', hidden: true });
    this.sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
    this.el = h('nav', { 'aria-label': 'Conversations', class: 'nav' },
      h('div', { class: 'list-head' }, this.heading, this.countEl),
      this.listEl, this.emptyEl, this.sentinel);
    this._io = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && app.loadOlder(), { root: this.el, rootMargin: '200px' });
    this._io.observe(this.sentinel);
  }

  firstFocusable() {
    return this.listEl.querySelector('button[tabindex="0"]') || this.listEl.querySelector('button');
  }

  focusItem(id) {
    (this.items.get(id)?.btn || this.firstFocusable())?.focus();
  }

  focusSelected() {
    this.focusItem(this.app.selected);
  }

  _matches(c) {
    if (!this.query) return true;
    const text = `${c.info.name || ''} ${preview(c.info.last_message)}`.toLowerCase();
    return text.includes(this.query);
  }

  render() {
    const app = this.app;
    const all = app.inboxConversations();
    const convs = all.filter((c) => this._matches(c));
    const unreadTotal = all.reduce((n, c) => n + (c.info.unread || 0), 0);
    this.countEl.textContent = unreadTotal ? `${unreadTotal} unread` : all.length ? String(all.length) : '';
    this.countEl.classList.toggle('has-unread', unreadTotal > 0);

    const keep = new Set();
    let prev = null;
    const focused = document.activeElement;
    for (const c of convs) {
      keep.add(c.id);
      let it = this.items.get(c.id);
      if (!it) {
        it = this._make(c);
        this.items.set(c.id, it);
      }
      this._update(it, c);
      const want = prev ? prev.nextSibling : this.listEl.firstChild;
      if (want !== it.btn) this.listEl.insertBefore(it.btn, want);
      prev = it.btn;
    }
    for (const [id, it] of this.items) {
      if (!keep.has(id)) {
        it.btn.remove();
        this.items.delete(id);
      }
    }
    if (focused && focused !== document.activeElement && this.listEl.contains(focused)) focused.focus();

    // One tab stop: the selected conversation, else the first.
    const buttons = [...this.listEl.children];
    const current = this.items.get(app.selected)?.btn;
    const stop = current && buttons.includes(current) ? current : buttons[0];
    for (const b of buttons) b.tabIndex = b === (this.listEl.contains(focused) ? focused : stop) ? 0 : -1;

    this._empty(all.length, convs.length);
  }

  _empty(total, shown) {
    const el = this.emptyEl;
    if (shown) {
      el.hidden = true;
      return;
    }
    if (!this.app.listLoaded) {
      el.replaceChildren(...[0, 1, 2].map(() => h('div', { class: 'skeleton', 'aria-hidden': 'true' }, h('span'), h('span'))));
      el.setAttribute('aria-busy', 'true');
    } else if (total) {
      el.removeAttribute('aria-busy');
      el.replaceChildren(h('p', { class: 'muted' }, `No conversation matches “${this.search.value.trim()}”.`));
    } else {
      el.removeAttribute('aria-busy');
      el.replaceChildren(
        h('div', { class: 'empty-art', 'aria-hidden': 'true', html: icons.chat }),
        h('h3', {}, 'No conversations yet'),
        h('p', {}, 'When a visitor writes from your website, the conversation appears here, live. Send yourself a message from the chat button on your landing page to see how it works.'),
        h('a', { class: 'btn', href: '/', target: '_blank', rel: 'noopener' }, 'Try the widget'),
      );
    }
    el.hidden = false;
  }

  _make(c) {
    const dot = h('span', { class: 'dot offline' });
    const av = avatar(c.info.name || 'Visitor', { dot });
    const name = h('span', { class: 'conv-name' });
    const said = h('span', { class: 'sr-only' }); // ", online" for screen readers, after the name
    const time = h('time', { class: 'conv-time' });
    const prev = h('span', { class: 'conv-preview' });
    const btn = h('button', {
      type: 'button', class: 'conv', dataset: { conversation: c.id }, tabindex: '-1',
      onclick: () => this.app.select(c.id, { push: matchMedia('(max-width: 699.98px)').matches, focus: true }),
    }, av, h('span', { class: 'conv-body' }, h('span', { class: 'conv-top' }, name, said, time), h('span', { class: 'conv-bottom' }, prev)));
    return { btn, av, dot, name, said, time, prev, badge: null, sig: '' };
  }

  _update(it, c) {
    const app = this.app;
    const info = c.info;
    const typing = c.typing.size > 0 && [...c.typing].some((u) => !app.isStaff(u));
    const presence = app.visitorPresence(c.id);
    const status = presence?.status || 'offline';
    const m = info.last_message;
    let text = preview(m);
    if (m && !m.deleted_at && m.sender_id === app.me.id) text = 'You: ' + text;
    else if (m && !m.deleted_at && app.team.has(m.sender_id)) text = `${app.nameOf(m.sender_id).split(' ')[0]}: ${text}`;
    const when = m?.created_at || info.updated_at;
    const unread = info.unread || 0;
    const name = info.name || 'Visitor';
    const selected = app.selected === c.id;
    const sig = JSON.stringify([name, typing, status, text, ago(when), unread, selected]);
    if (sig === it.sig) return;
    it.sig = sig;

    if (it.name.textContent !== name) {
      it.name.textContent = name;
      setAvatar(it.av, name);
    }
    it.dot.className = `dot ${typing ? 'typing' : status}`;
    it.dot.title = STATUS_LABEL[status] || '';
    it.time.textContent = ago(when);
    if (when) it.time.setAttribute('datetime', when);
    it.prev.textContent = typing ? 'typing…' : text || 'No messages yet';
    it.prev.classList.toggle('is-typing', typing);
    if (unread > 0) {
      if (!it.badge) {
        it.badge = h('span', { class: 'unread' });
        it.prev.after(it.badge);
      }
      it.badge.replaceChildren(unread > 99 ? '99+' : String(unread), h('span', { class: 'sr-only' }, ' unread'));
    } else if (it.badge) {
      it.badge.remove();
      it.badge = null;
    }
    it.btn.classList.toggle('has-unread', unread > 0);
    it.btn.classList.toggle('selected', selected);
    if (selected) it.btn.setAttribute('aria-current', 'true');
    else it.btn.removeAttribute('aria-current');
    // The button's name is what it shows (name, time, last message, unread
    // count), with the visitor's status added for screen readers.
    it.said.textContent = `, ${STATUS_LABEL[status] || 'Offline'}, `;
  }

  _key(e) {
    const buttons = [...this.listEl.children];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (e.key === 'ArrowDown') j = Math.min(buttons.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = i - 1;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = buttons.length - 1;
    else return;
    e.preventDefault();
    if (j < 0) {
      this.search.focus();
      return;
    }
    for (const b of buttons) b.tabIndex = -1;
    buttons[j].tabIndex = 0;
    buttons[j].focus();
  }
}
