// Thread is the conversation view the widget and the console share: the
// messages grouped by sender and day with delivered and read ticks, edit,
// delete, reply and copy by right-click, long-press or keyboard, images,
// files and voice notes with upload progress, typing, and the composer with
// the paperclip, drag-and-drop, paste and the voice recorder.
//
// A conversation opens at its newest message, at the bottom. Scrolling up
// loads older pages (the message in view stays where it is as they are
// put above it); a message arriving while the person reads further up does
// not move the view but shows a "new messages" button that leads down.

import { h, richText } from './dom.js';
import { icons } from './icons.js';
import { timeOf, dayKey, dayLabel, size, duration, callLabel } from './format.js';
import { Recorder, MAX_RECORDING_MS } from './recorder.js';

const GROUP_MS = 5 * 60 * 1000;
const LONG_PRESS_MS = 500;
const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
const ARROW_DOWN = icons.back.replace('M15 18l-6-6 6-6', 'M6 9l6 6 6-6').replace('width="20" height="20"', 'width="16" height="16"');

export class Thread {
  // client: the SDK Client; names(userId) → display name; welcome: {name,
  // text} shown first; canDelete(m) → may the user delete m (their own
  // always); readUpTo(conv) → the seq our messages count as read up to
  // (default: read by anyone else); label: the log's accessible name;
  // onSeen() is called when the person scrolls down to the newest message
  // (the UIs mark the conversation read then: see atBottom).
  constructor({ client, names = () => '', welcome = null, canDelete = () => false, readUpTo = (c) => c.readByOthers(), label = 'Messages', placeholder = 'Write a message…', onSeen = () => {} }) {
    this.client = client;
    this.readUpTo = readUpTo;
    this.names = names;
    this.welcome = welcome;
    this.canDeleteOthers = canDelete;
    this.onSeen = onSeen;
    this._seenSeq = 0; // the newest seq shown while the log was at the bottom
    this.conv = null;
    this.nodes = new Map(); // item key → {el, sig}
    this.mode = null; // {kind: 'reply'|'edit', m}
    this.stick = true; // the log follows new content while scrolled to the bottom
    this._unsub = [];

    // The log (a live region that scrolls) holds the list of messages.
    this.list = h('ol', { class: 'msgs' });
    this.log = h('div', { class: 'log', role: 'log', 'aria-label': label, tabindex: '0', onkeydown: (e) => this._logKey(e), onscroll: () => this._scrolled() }, this.list);
    // Shown while the log is scrolled up: how many messages came since, and
    // the way down to them.
    this.jumpBtn = h('button', { type: 'button', class: 'jump', hidden: true, onclick: () => this.scrollToBottom(true) });
    this.typingEl = h('div', { class: 'typing-line', hidden: true, 'aria-live': 'polite' });
    this.noticeEl = h('div', { class: 'notice', role: 'status', hidden: true });
    this.contextEl = h('div', { class: 'context', hidden: true });
    this.textarea = h('textarea', {
      rows: 1, placeholder, 'aria-label': 'Message', enterkeyhint: 'send', maxlength: 8192,
      oninput: () => this._input(), onkeydown: (e) => this._composerKey(e), onblur: () => this.conv?.setTyping(false),
      onpaste: (e) => this._paste(e),
    });
    this.fileInput = h('input', { type: 'file', multiple: true, hidden: true, tabindex: '-1', onchange: () => this._picked() });
    this.attachBtn = h('button', { type: 'button', class: 'icon-btn attach', 'aria-label': 'Attach a file', title: 'Attach a file', html: icons.clip, onclick: () => this.fileInput.click() });
    this.micBtn = h('button', { type: 'button', class: 'icon-btn mic', 'aria-label': 'Record a voice message', title: 'Record a voice message', html: icons.mic, onclick: () => this._record() });
    this.sendBtn = h('button', { type: 'submit', class: 'icon-btn send', 'aria-label': 'Send', title: 'Send', html: icons.send });
    this.composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this._submit(); } },
      this.fileInput, this.attachBtn, this.textarea, Recorder.supported() ? this.micBtn : null, this.sendBtn);
    this.dropEl = h('div', { class: 'drop', hidden: true }, 'Drop files to send');
    this.el = h('div', { class: 'thread', ondragenter: (e) => this._drag(e), ondragover: (e) => this._drag(e), ondragleave: (e) => this._dragLeave(e), ondrop: (e) => this._drop(e) },
      h('div', { class: 'log-wrap' }, this.log, this.jumpBtn), this.typingEl, this.noticeEl, this.contextEl, this.composer, this.dropEl);
    this._onDoc = (e) => this.menu && !this.menu.contains(e.composedPath()[0]) && this._closeMenu(false);
    // Content that grows later (an image that loads, the typing line, a
    // phone's keyboard shrinking the view) keeps the newest message in view.
    this._follow = () => this.stick && (this.log.scrollTop = this.log.scrollHeight);
    if (globalThis.ResizeObserver) new ResizeObserver(this._follow).observe(this.log);
  }

  setConversation(conv) {
    for (const u of this._unsub) u();
    this._unsub = [];
    this.conv = conv;
    this.nodes.clear();
    this.list.replaceChildren();
    this.log.removeAttribute('aria-busy');
    this._cancelMode();
    if (!conv) return;
    const on = (t, f) => {
      conv.addEventListener(t, f);
      this._unsub.push(() => conv.removeEventListener(t, f));
    };
    on('change', () => this.render());
    on('loading', () => {
      // Older messages put above are not news: a screen reader waits for
      // the page instead of reading it out (the log is a live region).
      this.log.setAttribute('aria-busy', 'true');
      this.render();
    });
    on('reset', () => {
      this.stick = true;
      this._seenSeq = 0;
    });
    on('typing', () => this._renderTyping());
    this.stick = true;
    this._seenSeq = 0;
    this.render(true);
    this._renderTyping();
  }

  focus() {
    this.textarea.focus();
  }

  // draft is the composer's unsent text; setDraft puts one back.
  get draft() {
    return this.textarea.value;
  }

  setDraft(text) {
    this.textarea.value = text || '';
    this._grow();
  }

  setWelcome(w) {
    this.welcome = w;
    this.render();
  }

  notice(text, error = true) {
    this.noticeEl.textContent = text;
    this.noticeEl.classList.toggle('error', error);
    this.noticeEl.hidden = !text;
    clearTimeout(this._noticeTimer);
    if (text) this._noticeTimer = setTimeout(() => (this.noticeEl.hidden = true), 8000);
  }

  // --- rendering ---

  _items() {
    const conv = this.conv;
    const me = this.client.me?.id;
    const items = [];
    if (conv.loaded && conv.hasMore) {
      const text = conv.loadingOlder ? 'Loading earlier messages…' : 'Scroll up for earlier messages';
      items.push({ key: 'more', sig: text, make: () => h('li', { class: 'more' }, text) });
    }
    if (this.welcome?.text && (!conv.loaded || !conv.hasMore)) {
      const w = this.welcome;
      items.push({ key: 'welcome', sig: 'w' + w.name + w.text, make: () => h('li', { class: 'row first welcome' },
        h('div', { class: 'who' }, w.name), h('div', { class: 'bubble' }, richText(w.text))) });
    }
    const list = conv.list();
    const read = this.readUpTo(conv);
    let prevDay = '';
    const rows = [];
    for (const m of list) {
      const day = dayKey(m.created_at);
      if (day !== prevDay) {
        items.push({ key: 'd' + day, sig: 'd' + dayLabel(m.created_at), make: () => h('li', { class: 'day' }, dayLabel(m.created_at)) });
        prevDay = day;
        rows.push(null);
      }
      const mine = !m.sender_id || m.sender_id === me || m.pending;
      if (m.type === 'call') { // a call event: a line of its own, not a bubble
        const label = callLabel(m, mine);
        items.push({ key: 'm' + m.id, sig: 'c' + label + m.deleted_at, make: () => h('li', { class: 'call-event' },
          h('span', { html: icons.phone }), label, h('span', { class: 'meta-time' }, ' · ' + timeOf(m.created_at))) });
        rows.push(null);
        continue;
      }
      const item = { m, mine, key: 'm' + (m.client_id && mine ? m.client_id : m.id), day };
      rows.push(item);
      items.push(item);
    }
    // Group: the same sender, the same day, within five minutes.
    for (let i = 0; i < rows.length; i++) {
      const it = rows[i];
      if (!it) continue;
      const prev = rows[i - 1];
      const next = rows[i + 1];
      const same = (a, b) => a && b && a.mine === b.mine && a.m.sender_id === b.m.sender_id &&
        Math.abs(Date.parse(b.m.created_at) - Date.parse(a.m.created_at)) < GROUP_MS;
      it.first = !same(prev, it);
      it.last = !same(it, next);
      it.tick = !it.mine ? '' : it.m.failed ? 'failed' : it.m.pending ? 'pending' : it.m.seq <= read ? 'read' : 'sent';
      const m = it.m;
      it.sig = JSON.stringify([m.id, m.seq, m.text, m.edited_at, m.deleted_at, it.first, it.last, it.tick, m.failed,
        it.first && !it.mine ? this.names(m.sender_id) : '', m.reply_to && this.conv.byId.get(m.reply_to)?.text, !!m.pending, m.attachment?.id]);
      it.make = () => this._row(it);
      it.update = (el) => this._progress(el, m);
    }
    return items;
  }

  render(initial = false) {
    const conv = this.conv;
    if (!conv) return;
    const log = this.log;
    // The person may have scrolled up since the last scroll event: ask the
    // log, so that a message arriving in between does not pull them down.
    const atBottom = initial || (this.stick && this._nearBottom());
    if (!atBottom) this.stick = false;
    // Away from the bottom, the message in view stays where it is whatever
    // is put above it (an older page) or below it (new messages).
    const anchor = atBottom ? null : this._anchor();
    const list = this.list;
    const items = this._items();
    const keep = new Map();
    let prevEl = null;
    for (const it of items) {
      let n = this.nodes.get(it.key);
      if (!n || n.sig !== it.sig) {
        const el = it.make();
        el.dataset.key = it.key;
        if (n) {
          // A keyboard user on this message keeps their place when it
          // changes (delivered, read, edited).
          const focused = n.el.contains(this.el.getRootNode().activeElement);
          n.el.replaceWith(el);
          if (focused) el.querySelector('.bubble')?.focus({ preventScroll: true });
        }
        n = { el, sig: it.sig };
      }
      it.update?.(n.el);
      keep.set(it.key, n);
      const want = prevEl ? prevEl.nextSibling : list.firstChild;
      if (want !== n.el) list.insertBefore(n.el, want);
      prevEl = n.el;
    }
    for (const [k, n] of this.nodes) if (!keep.has(k)) n.el.remove();
    this.nodes = keep;
    if (atBottom) {
      this.stick = true;
      log.scrollTop = log.scrollHeight;
    } else if (anchor) {
      // By key: the row itself may have been made anew (its grouping
      // changes when an older message from the same sender comes above).
      const el = keep.get(anchor.key)?.el;
      const moved = el ? anchorTop(el) - anchor.top : 0;
      if (moved) log.scrollTop += moved;
    }
    if (!conv.loadingOlder && log.hasAttribute('aria-busy')) requestAnimationFrame(() => !this.conv?.loadingOlder && log.removeAttribute('aria-busy'));
    this._renderJump();
    this._maybeLoadOlder();
  }

  // atBottom: the newest message is in view (or the log follows it).
  get atBottom() {
    return this.stick;
  }

  // scrollToBottom brings the newest message into view and follows it.
  scrollToBottom(focus = false) {
    this.stick = true;
    this.log.scrollTop = this.log.scrollHeight;
    this._renderJump();
    if (focus) this.focus();
  }

  // _anchor is the first message in view and where it is, found by
  // bisection (rows are in document order, top to bottom). Not the "more"
  // line or a day: those stay first as a page is put under them.
  _anchor() {
    const rows = this.list.children;
    if (!rows.length) return null;
    const top = this.log.getBoundingClientRect().top;
    let lo = 0;
    let hi = rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].getBoundingClientRect().bottom <= top) lo = mid + 1;
      else hi = mid;
    }
    while (lo < rows.length - 1 && !isMessageKey(rows[lo].dataset.key)) lo++;
    return { key: rows[lo].dataset.key, top: anchorTop(rows[lo]) };
  }

  // _renderJump counts what came since the person scrolled up, and shows
  // the button down to it (also when far up with nothing new).
  _renderJump() {
    const conv = this.conv;
    const btn = this.jumpBtn;
    if (!conv || this.stick) {
      if (conv && this._seenSeq < conv.lastSeq) {
        this._seenSeq = conv.lastSeq;
        queueMicrotask(() => this.onSeen()); // after this render: marking read changes the conversation
      }
      btn.hidden = true;
      return;
    }
    const me = this.client.me?.id;
    let n = 0;
    for (let i = conv.bySeq.length - 1; i >= 0 && conv.bySeq[i].seq > this._seenSeq; i--) {
      const m = conv.bySeq[i];
      if (m.sender_id !== me && !m.deleted_at) n++;
    }
    const log = this.log;
    const far = log.scrollHeight - log.scrollTop - log.clientHeight > log.clientHeight;
    const text = n ? `${n} new message${n === 1 ? '' : 's'}` : 'Jump to the newest';
    if (btn.dataset.text !== text) {
      btn.dataset.text = text;
      btn.replaceChildren(h('span', { class: 'jump-icon', html: ARROW_DOWN }), text);
    }
    btn.classList.toggle('has-new', n > 0);
    btn.hidden = !n && !far;
  }

  // _maybeLoadOlder asks for the page before the oldest message held when
  // the person comes within a screen of the top (or the messages held do
  // not fill the log). A hidden log loads nothing.
  _maybeLoadOlder() {
    const conv = this.conv;
    const log = this.log;
    if (!conv?.loaded || !conv.hasMore || conv.loadingOlder || !this.client.connected || !log.clientHeight) return;
    if (log.scrollTop > Math.max(200, log.clientHeight)) return;
    conv.loadOlder().catch(() => {});
  }

  _row(it) {
    const { m, mine } = it;
    const row = h('li', { class: `row${mine ? ' mine' : ''}${it.first ? ' first' : ''}${it.last ? ' last' : ''}` });
    if (it.first && !mine) {
      const name = this.names(m.sender_id);
      if (name) row.append(h('div', { class: 'who' }, name));
    }
    const bubble = h('div', { class: 'bubble', tabindex: '-1', 'aria-label': this._describe(it), dataset: { key: it.key } });
    bubble._m = m;
    this._bindMenu(bubble, m);
    if (m.deleted_at) {
      bubble.classList.add('deleted');
      bubble.append('Message deleted');
    } else {
      if (m.reply_to) {
        const orig = this.conv.byId.get(m.reply_to);
        bubble.append(h('span', { class: 'quote' }, orig ? (orig.deleted_at ? 'Message deleted' : orig.text || kindLabel(orig)) : 'Earlier message'));
      }
      this._content(bubble, m);
    }
    row.append(bubble);
    if (it.last || it.tick === 'failed' || it.tick === 'pending' || (m.edited_at && !m.deleted_at)) row.append(this._meta(it));
    return row;
  }

  _describe(it) {
    const { m, mine } = it;
    const who = mine ? 'You' : this.names(m.sender_id) || 'Them';
    const what = m.deleted_at ? 'deleted message' : m.text || kindLabel(m);
    const state = { pending: ', sending', failed: ', not sent', read: ', read', sent: ', delivered' }[it.tick] || '';
    return `${who} at ${timeOf(m.created_at)}: ${what}${m.edited_at ? ' (edited)' : ''}${state}`;
  }

  _content(bubble, m) {
    const url = () => (m.pending ? Promise.resolve(m.localURL) : this.client.blobURL(m.attachment));
    if (m.type === 'image') {
      const img = h('img', { alt: m.attachment?.name || m.name || 'Image', onload: this._follow });
      url().then((u) => (img.src = u)).catch(() => (img.alt = 'Image unavailable'));
      const btn = h('button', { type: 'button', class: 'media', 'aria-label': 'Open image', onclick: () => url().then((u) => this._lightbox(u, img.alt)) }, img);
      if (m.pending) btn.append(progressBar(m));
      bubble.append(btn);
      if (!m.text) bubble.classList.add('only-media');
    } else if (m.type === 'voice') {
      bubble.append(this._voice(m, url));
    } else if (m.type === 'file') {
      const name = m.attachment?.name || m.name || 'file';
      const card = h('button', { type: 'button', class: 'filecard', onclick: () => url().then((u) => download(u, name)) },
        h('span', { class: 'ficon', html: icons.file }),
        h('span', {}, name, h('small', {}, size(m.attachment?.size ?? m.size ?? 0)), m.pending ? progressBar(m) : null));
      bubble.append(card);
    }
    if (m.text) bubble.append(m.type === 'text' ? richText(m.text) : h('div', {}, richText(m.text)));
  }

  _voice(m, url) {
    let audio = null;
    const bar = h('span');
    const len = h('span', { class: 'len' }, duration(m.duration_ms || 0));
    const btn = h('button', { type: 'button', 'aria-label': 'Play voice message', html: icons.play });
    btn.onclick = async () => {
      if (!audio) {
        audio = new Audio(await url());
        const mine = audio;
        // A signed URL expires after minutes: a failed load asks for a fresh one on the next click.
        audio.onerror = () => { if (audio === mine) audio = null; };
        audio.ontimeupdate = () => {
          const d = audio.duration && isFinite(audio.duration) ? audio.duration : (m.duration_ms || 1) / 1000;
          bar.style.width = `${Math.min(100, (audio.currentTime / d) * 100)}%`;
          len.textContent = duration(audio.currentTime * 1000);
        };
        audio.onended = audio.onpause = () => {
          btn.innerHTML = icons.play;
          btn.setAttribute('aria-label', 'Play voice message');
          if (audio.ended) {
            bar.style.width = '0';
            len.textContent = duration(m.duration_ms || 0);
          }
        };
        audio.onplay = () => {
          btn.innerHTML = icons.pause;
          btn.setAttribute('aria-label', 'Pause voice message');
        };
      }
      if (audio.paused) audio.play().catch(() => this.notice('This voice message cannot be played here.'));
      else audio.pause();
    };
    return h('div', { class: 'voice' }, btn, h('div', { class: 'bar' }, bar), len, m.pending ? progressBar(m) : null);
  }

  _progress(el, m) {
    if (!m.pending) return;
    const pct = Math.round((m.progress || 0) * 100);
    const bar = el.querySelector('[role=progressbar]');
    if (!bar) return;
    bar.setAttribute('aria-valuenow', String(pct));
    bar.firstChild.style.width = pct + '%';
    const label = el.querySelector('.progress-label');
    if (label) label.textContent = pct + '%';
  }

  _meta(it) {
    const { m } = it;
    const meta = h('div', { class: 'meta' }, timeOf(m.created_at), m.edited_at && !m.deleted_at ? ' · edited' : '');
    switch (it.tick) {
      case 'pending':
        meta.append(h('span', { class: 'tick', title: 'Sending', html: icons.clock }), h('span', { class: 'sr-only' }, 'Sending'));
        break;
      case 'sent':
        meta.append(h('span', { class: 'tick sent', title: 'Delivered', html: icons.check }), h('span', { class: 'sr-only' }, 'Delivered'));
        break;
      case 'read':
        meta.append(h('span', { class: 'tick read', title: 'Read', html: icons.checks }), h('span', { class: 'sr-only' }, 'Read'));
        break;
      case 'failed':
        meta.append(h('span', { class: 'tick failed', html: icons.alert }), `Not sent${m.error ? ': ' + m.error : ''}`,
          h('button', { type: 'button', onclick: () => this.client.retry(m.client_id) }, 'Retry'),
          h('button', { type: 'button', onclick: () => this.client.discard(m.client_id) }, 'Discard'));
        break;
    }
    return meta;
  }

  _renderTyping() {
    const ids = [...(this.conv?.typing || [])];
    if (!ids.length) {
      this.typingEl.hidden = true;
      this.typingEl.replaceChildren();
      return;
    }
    const names = ids.map((id) => this.names(id) || 'Someone');
    this.typingEl.replaceChildren(h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
      `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…`);
    this.typingEl.hidden = false;
  }

  _nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }

  _scrolled() {
    this.stick = this._nearBottom();
    this._renderJump();
    this._maybeLoadOlder();
  }

  // --- the message menu: right-click, long-press, or the keyboard ---

  _bindMenu(bubble, m) {
    if (m.pending) return;
    bubble.addEventListener('contextmenu', (e) => {
      e.preventDefault();
      this._openMenu(m, bubble, e.clientX, e.clientY);
    });
    let timer = null;
    let start = null;
    bubble.addEventListener('pointerdown', (e) => {
      if (e.pointerType === 'mouse') return;
      start = [e.clientX, e.clientY];
      timer = setTimeout(() => this._openMenu(m, bubble, start[0], start[1]), LONG_PRESS_MS);
    });
    const cancel = () => clearTimeout(timer);
    bubble.addEventListener('pointerup', cancel);
    bubble.addEventListener('pointercancel', cancel);
    bubble.addEventListener('pointermove', (e) => start && Math.hypot(e.clientX - start[0], e.clientY - start[1]) > 10 && cancel());
  }

  _logKey(e) {
    const bubbles = [...this.log.querySelectorAll('.bubble[tabindex]')];
    if (!bubbles.length) return;
    const at = bubbles.indexOf(this.el.getRootNode().activeElement);
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      const i = at < 0 ? bubbles.length - 1 : Math.max(0, Math.min(bubbles.length - 1, at + (e.key === 'ArrowUp' ? -1 : 1)));
      bubbles[i].focus();
    } else if (at >= 0 && (e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey) || e.key === 'Enter')) {
      e.preventDefault();
      const m = bubbles[at]._m;
      if (m && !m.pending) {
        const r = bubbles[at].getBoundingClientRect();
        this._openMenu(m, bubbles[at], r.left + 12, r.bottom);
      }
    }
  }

  _openMenu(m, bubble, x, y) {
    this._closeMenu(false);
    const mine = m.sender_id === this.client.me?.id;
    const items = [];
    if (!m.deleted_at) {
      items.push(['reply', 'Reply', icons.reply, () => this._setMode('reply', m)]);
      if (mine && m.type === 'text') items.push(['edit', 'Edit', icons.edit, () => this._setMode('edit', m)]);
      if (m.text) items.push(['copy', 'Copy text', icons.copy, () => navigator.clipboard?.writeText(m.text).catch(() => {})]);
      if (mine || this.canDeleteOthers(m)) items.push(['delete', 'Delete', icons.trash, () => this._delete(m)]);
    }
    if (!items.length) return;
    const menu = h('div', { class: 'menu', role: 'menu', 'aria-label': 'Message actions', onkeydown: (e) => this._menuKey(e) });
    for (const [name, label, icon, act] of items) {
      menu.append(h('button', { type: 'button', role: 'menuitem', class: name === 'delete' ? 'danger' : '', dataset: { action: name },
        onclick: () => { this._closeMenu(false); act(); } }, h('span', { html: icon }), label));
    }
    this.el.append(menu);
    const box = this.el.getBoundingClientRect();
    const mw = menu.offsetWidth;
    const mh = menu.offsetHeight;
    menu.style.left = `${Math.max(8, Math.min(x - box.left, box.width - mw - 8))}px`;
    menu.style.top = `${Math.max(8, Math.min(y - box.top, box.height - mh - 8))}px`;
    this.menu = menu;
    this._menuFor = bubble;
    menu.querySelector('button').focus();
    setTimeout(() => document.addEventListener('pointerdown', this._onDoc, true));
  }

  _menuKey(e) {
    const btns = [...this.menu.querySelectorAll('button')];
    const i = btns.indexOf(this.el.getRootNode().activeElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      btns[(i + (e.key === 'ArrowDown' ? 1 : btns.length - 1)) % btns.length].focus();
    } else if (e.key === 'Escape' || e.key === 'Tab') {
      e.preventDefault();
      e.stopPropagation();
      this._closeMenu(true);
    }
  }

  _closeMenu(refocus) {
    if (!this.menu) return;
    document.removeEventListener('pointerdown', this._onDoc, true);
    this.menu.remove();
    this.menu = null;
    if (refocus) this._menuFor?.focus();
  }

  async _delete(m) {
    try {
      await this.conv.delete(m.id);
    } catch (e) {
      this.notice(`Could not delete the message: ${e.message}`);
    }
  }

  _setMode(kind, m) {
    this.mode = { kind, m };
    const label = kind === 'edit' ? 'Editing your message' : `Replying to ${m.sender_id === this.client.me?.id ? 'yourself' : this.names(m.sender_id) || 'them'}: ${m.text || kindLabel(m)}`;
    this.contextEl.replaceChildren(h('span', {}, label),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': kind === 'edit' ? 'Cancel editing' : 'Cancel reply', html: icons.close, onclick: () => this._cancelMode(true) }));
    this.contextEl.hidden = false;
    if (kind === 'edit') {
      this.textarea.value = m.text;
      this._grow();
    }
    this.focus();
  }

  _cancelMode(refocus) {
    if (this.mode?.kind === 'edit') this.textarea.value = '';
    this.mode = null;
    this.contextEl.hidden = true;
    this.contextEl.replaceChildren();
    this._grow();
    if (refocus) this.focus();
  }

  // --- the composer ---

  _input() {
    this._grow();
    if (this.mode?.kind !== 'edit') this.conv?.setTyping(this.textarea.value.trim() !== '');
  }

  _grow() {
    const t = this.textarea;
    t.style.height = 'auto';
    t.style.height = Math.min(120, t.scrollHeight) + 'px';
  }

  _composerKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this._submit();
    } else if (e.key === 'Escape' && this.mode) {
      e.preventDefault();
      e.stopPropagation(); // Esc cancels the edit here; it closes the widget only when nothing else is open
      this._cancelMode(true);
    } else if (e.key === 'ArrowUp' && !this.textarea.value && this.conv) {
      const last = [...this.conv.bySeq].reverse().find((m) => m.sender_id === this.client.me?.id && m.type === 'text' && !m.deleted_at);
      if (last) {
        e.preventDefault();
        this._setMode('edit', last);
      }
    }
  }

  async _submit() {
    if (this._recorder) return this._stopRecording(true);
    const text = this.textarea.value.trim();
    if (!text || !this.conv) return;
    const mode = this.mode;
    this.textarea.value = '';
    this._cancelMode(false);
    this._grow();
    this.conv.setTyping(false);
    if (mode?.kind === 'edit') {
      if (text === mode.m.text) return;
      try {
        await this.conv.edit(mode.m.id, text);
      } catch (e) {
        this.notice(`Could not edit the message: ${e.message}`);
      }
      return;
    }
    this.stick = true; // what one sends is shown, wherever the log was
    this.conv.send(text, { replyTo: mode?.kind === 'reply' ? mode.m.id : undefined });
    this.render();
    this.scrollToBottom();
  }

  sendFiles(files) {
    if (!this.conv) return;
    for (const f of [...files].slice(0, 10)) {
      const kind = IMAGE_TYPES.test(f.type) ? 'image' : 'file';
      this.conv.sendFile(f, { kind });
    }
    this.stick = true;
    this.render();
    this.scrollToBottom();
  }

  _picked() {
    this.sendFiles(this.fileInput.files);
    this.fileInput.value = '';
    this.focus();
  }

  _paste(e) {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length) {
      e.preventDefault();
      this.sendFiles(files);
    }
  }

  _drag(e) {
    if (![...(e.dataTransfer?.types || [])].includes('Files')) return;
    e.preventDefault();
    this.dropEl.hidden = false;
  }

  _dragLeave(e) {
    if (!this.el.contains(e.relatedTarget)) this.dropEl.hidden = true;
  }

  _drop(e) {
    this.dropEl.hidden = true;
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    this.sendFiles(e.dataTransfer.files);
  }

  // --- voice messages ---

  async _record() {
    if (this._recorder) return;
    const rec = new Recorder();
    try {
      await rec.start();
    } catch {
      this.notice('The microphone is not available: allow it in the browser to record a voice message.');
      return;
    }
    this._recorder = rec;
    const clock = h('span', {}, '0:00');
    const panel = h('div', { class: 'recording', role: 'status', 'aria-label': 'Recording a voice message' },
      h('span', { class: 'rec', 'aria-hidden': 'true' }), clock, h('span', { class: 'sr-only' }, 'Recording'),
      h('span', { style: { flex: '1' } }),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Cancel recording', html: icons.trash, onclick: () => this._stopRecording(false) }));
    this._recPanel = panel;
    this.textarea.hidden = this.attachBtn.hidden = this.micBtn.hidden = true;
    this.composer.insertBefore(panel, this.sendBtn);
    this.sendBtn.setAttribute('aria-label', 'Send voice message');
    this.sendBtn.focus();
    this._recTimer = setInterval(() => {
      clock.textContent = duration(rec.elapsed());
      if (rec.elapsed() > MAX_RECORDING_MS) this._stopRecording(true);
    }, 250);
  }

  async _stopRecording(send) {
    const rec = this._recorder;
    if (!rec) return;
    this._recorder = null;
    clearInterval(this._recTimer);
    this._recPanel.remove();
    this.textarea.hidden = this.attachBtn.hidden = this.micBtn.hidden = false;
    this.sendBtn.setAttribute('aria-label', 'Send');
    this.focus();
    if (!send) return rec.cancel();
    const { blob, durationMs, type } = await rec.stop();
    if (durationMs < 500 || !blob.size) return this.notice('That recording was too short.', false);
    const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
    const file = new File([blob], `voice-message.${ext}`, { type });
    this.stick = true;
    this.conv.sendFile(file, { kind: 'voice', durationMs });
    this.render();
    this.scrollToBottom();
  }

  // --- images ---

  _lightbox(url, alt) {
    const close = () => {
      box.remove();
      this.focus();
    };
    const box = h('div', { class: 'lightbox', role: 'dialog', 'aria-label': alt, onclick: (e) => e.target === box && close(),
      onkeydown: (e) => { if (e.key === 'Escape') { e.stopPropagation(); close(); } } },
      h('img', { src: url, alt }),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close image', html: icons.close, onclick: close }));
    this.el.append(box);
    box.querySelector('button').focus();
  }
}

// anchorTop is where a row's message lies in the list (positioned, so
// neither scrolling nor an opening animation's transform changes it): its
// bubble, which stays put when the sender's name above it comes or goes
// with the grouping.
function anchorTop(row) {
  const el = row.querySelector('.bubble') || row;
  return el.offsetParent === row.parentNode ? el.offsetTop : row.offsetTop + el.offsetTop;
}

// Message rows are keyed "m" + id (or client id); "more" is the line above them.
function isMessageKey(key) {
  return !!key && key !== 'more' && key[0] === 'm';
}

function kindLabel(m) {
  return { image: 'Photo', voice: 'Voice message', file: 'File' }[m.type] || 'Message';
}

function progressBar(m) {
  const pct = Math.round((m.progress || 0) * 100);
  return h('span', {},
    h('span', { class: 'progress', role: 'progressbar', 'aria-label': 'Upload progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) },
      h('span', { style: { width: pct + '%' } })),
    m.type === 'image' ? h('span', { class: 'progress-label', 'aria-hidden': 'true' }, pct + '%') : null);
}

function download(url, name) {
  const a = h('a', { href: url, download: name, style: { display: 'none' } });
  document.body.append(a);
  a.click();
  a.remove();
}
