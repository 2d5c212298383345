// Conversation: what a client knows of one conversation — its messages in
// seq order (deduplicated by id, so a message seen live and again in a
// history page or a sync replay appears once), the ones still on their way
// (by client_id), everyone's read positions and who is typing. Both the
// widget and the console render from it. It fires "change" whenever what
// it shows changed, "message" for each new message from someone else,
// "loading" when a page of older messages is asked for and "reset" when
// reload dropped everything held.

const TYPING_REFRESH_MS = 3000; // re-announce while typing (the server forgets after 5 s)
const TYPING_IDLE_MS = 4000; // stop after this long without a keystroke
const READ_INTERVAL_MS = 1000; // at most one chat:read a second per conversation

export class Conversation extends EventTarget {
  constructor(client, id, info = {}) {
    super();
    this.client = client;
    this.id = id;
    this.info = info; // the server's Conversation (kind, name, members, unread, ...)
    this.byId = new Map(); // message id → message
    this.bySeq = []; // confirmed messages in seq order
    this.reads = { ...(info.reads || {}) };
    this.typing = new Set();
    this.hasMore = true; // older messages may exist on the server
    this.loaded = false;
    this.loadingOlder = false; // a page of older messages is on its way
    this._older = null; // that page's promise
    this._gen = 0; // bumped by reload: answers to requests made before are dropped
    this._typingSent = 0;
    this._typingTimer = null;
    this._readSentAt = 0; // when chat:read was last sent
    this._readTimer = null;
  }

  // The newest seq this client holds (the sync cursor).
  get lastSeq() {
    return this.bySeq.length ? this.bySeq[this.bySeq.length - 1].seq : 0;
  }

  // Messages to show: confirmed in order, then ours still on their way.
  list() {
    const pending = this.client.pendingFor(this.id).filter((p) => !this.byClientId(p.client_id));
    return [...this.bySeq, ...pending];
  }

  byClientId(cid) {
    if (!cid) return null;
    for (let i = this.bySeq.length - 1; i >= 0 && i >= this.bySeq.length - 200; i--) {
      const m = this.bySeq[i];
      if (m.client_id === cid && m.sender_id === this.client.me?.id) return m;
    }
    return null;
  }

  // apply takes a message from the server (live, replayed or from history).
  // It returns true when the message was new here.
  apply(m, { quiet = false } = {}) {
    const old = this.byId.get(m.id);
    if (old) {
      // An edit or deletion, or the same message again: keep the newest state.
      if (changedAt(m) >= changedAt(old)) Object.assign(old, m);
      if (!quiet) this.changed();
      return false;
    }
    this.byId.set(m.id, m);
    const i = insertAt(this.bySeq, m.seq);
    this.bySeq.splice(i, 0, m);
    if (m.sender_id && this.typing.delete(m.sender_id)) this.fire('typing');
    if (!quiet) {
      this.changed();
      if (m.sender_id !== this.client.me?.id) this.dispatchEvent(new CustomEvent('message', { detail: m }));
    }
    return true;
  }

  // History: a conversation opens at its newest page (chat:history without
  // a cursor answers the newest messages, in seq order), and older pages
  // come on demand as the person scrolls back. hasMore tells whether older
  // messages remain on the server.
  async loadLatest(limit = 50, { early = false } = {}) {
    const gen = this._gen;
    const r = await this.client.request('chat:history', { conversation_id: this.id, limit }, { early });
    if (gen !== this._gen) return 0; // reloaded meanwhile: that load answers
    // Messages held from before (live ones that came while the conversation
    // was not loaded) may lie below this page with a gap between: drop them,
    // paging back brings them again in order.
    const first = r.messages[0]?.seq;
    if (!this.loaded && first !== undefined && this.bySeq.length && this.bySeq[0].seq < first) this._dropBelow(first);
    for (const m of r.messages) this.apply(m, { quiet: true });
    this.hasMore = r.has_more;
    this.loaded = true;
    this.changed();
    return r.messages.length;
  }

  // loadOlder fetches the page before the oldest message held. Calls while
  // one is on its way share it. It resolves with the number of messages.
  loadOlder(limit = 50) {
    if (!this.hasMore || !this.bySeq.length) return Promise.resolve(0);
    if (this._older) return this._older;
    const gen = this._gen;
    this.loadingOlder = true;
    this.fire('loading');
    const p = this.client.request('chat:history', { conversation_id: this.id, before: this.bySeq[0].seq, limit }).then((r) => {
      if (gen !== this._gen) return 0;
      for (const m of r.messages) this.apply(m, { quiet: true });
      this.hasMore = r.has_more;
      return r.messages.length;
    }).finally(() => {
      if (this._older !== p) return;
      this._older = null;
      this.loadingOlder = false;
      this.changed();
    });
    this._older = p;
    return p;
  }

  // reload forgets every message held and loads the newest page again:
  // for when what is held cannot be trusted any more (the client calls it
  // when the server says this conversation's cursor belongs to another
  // history, e.g. after a restore). Pages on their way are ignored. It fires
  // "reset" at once (a view scrolls back to the bottom) and "change" when
  // the new page is in. It may be called while the client resumes (during
  // chat:sync, before "connected"). Offline it rejects and the conversation
  // stays unloaded: the next loadLatest (which the UIs call on every
  // connection) loads it.
  reload(limit = 50) {
    this._gen++;
    this.byId.clear();
    this.bySeq = [];
    this.hasMore = true;
    this.loaded = false;
    this._older = null;
    this.loadingOlder = false;
    this.fire('reset');
    this.changed();
    return this.loadLatest(limit, { early: true });
  }

  _dropBelow(seq) {
    const i = this.bySeq.findIndex((m) => m.seq >= seq);
    const gone = i < 0 ? this.bySeq : this.bySeq.slice(0, i);
    for (const m of gone) this.byId.delete(m.id);
    this.bySeq = i < 0 ? [] : this.bySeq.slice(i);
  }

  // The highest seq another member has read (for the sender's ticks).
  readByOthers() {
    let best = 0;
    for (const [uid, seq] of Object.entries(this.reads)) if (uid !== this.client.me?.id) best = Math.max(best, seq);
    return best;
  }

  myReadSeq() {
    return this.reads[this.client.me?.id] || this.info.read_seq || 0;
  }

  // markRead tells the server (and the other side's ticks) that everything
  // up to the newest message has been seen.
  async markRead() {
    const seq = this.lastSeq;
    if (!seq || seq <= this.myReadSeq() || !this.client.connected) return;
    this.reads[this.client.me.id] = seq;
    this.info.unread = 0;
    this.changed();
    await this._sendRead();
  }

  // _sendRead tells the server the newest read position, at most once per
  // READ_INTERVAL_MS (later calls within it are folded into one sent at its
  // end): each chat:read reaches every member and spends from the user's
  // request budget, and a busy group would otherwise spend it all on reads.
  async _sendRead() {
    const wait = this._readSentAt + READ_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this._readTimer ||= setTimeout(() => {
        this._readTimer = null;
        this._sendRead();
      }, wait);
      return;
    }
    this._readSentAt = Date.now();
    try {
      await this.client.request('chat:read', { conversation_id: this.id, seq: this.myReadSeq() });
    } catch {
      /* resent on the next markRead */
    }
  }

  // setTyping is called on every keystroke (true) and on send or blur
  // (false); it sends at most one start every few seconds.
  setTyping(on) {
    clearTimeout(this._typingTimer);
    const now = Date.now();
    if (on) {
      if (now - this._typingSent > TYPING_REFRESH_MS) {
        this._typingSent = now;
        this.client.notify('chat:typing', { conversation_id: this.id, is_typing: true });
      }
      this._typingTimer = setTimeout(() => this.setTyping(false), TYPING_IDLE_MS);
    } else if (this._typingSent) {
      this._typingSent = 0;
      this.client.notify('chat:typing', { conversation_id: this.id, is_typing: false });
    }
  }

  send(text, opts = {}) {
    return this.client.send(this.id, { text, ...opts });
  }

  sendFile(file, opts = {}) {
    return this.client.sendFile(this.id, file, opts);
  }

  edit(messageId, text) {
    return this.client.request('chat:edit', { conversation_id: this.id, message_id: messageId, text }).then((m) => {
      this.apply(m);
      return m;
    });
  }

  delete(messageId) {
    return this.client.request('chat:delete', { conversation_id: this.id, message_id: messageId }).then((m) => {
      this.apply(m);
      return m;
    });
  }

  // forget drops every message held, and the read positions that went with
  // them, when the server's history of the conversation is not the one
  // they came from (a restored backup); the client then loads it again.
  forget() {
    this._gen++; // pages asked for before are ignored when they come
    this._older = null;
    this.loadingOlder = false;
    this.byId.clear();
    this.bySeq = [];
    this.hasMore = true;
    this.loaded = false;
    this.reads = {};
    Object.assign(this.info, { last_seq: 0, read_seq: 0, unread: 0 });
    this.changed();
  }

  changed() {
    this.fire('change');
  }

  fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function changedAt(m) {
  return Math.max(Date.parse(m.deleted_at || 0) || 0, Date.parse(m.edited_at || 0) || 0);
}

// insertAt finds where seq goes in a list sorted by seq (appends are the usual case).
function insertAt(list, seq) {
  let hi = list.length;
  if (!hi || list[hi - 1].seq < seq) return hi;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
