// Client: one connection to a Parley server, shared by everything a page
// shows. It authenticates with a token from the caller, reconnects with
// backoff, resumes where it left off (chat:sync with cursors and since),
// keeps an outbox that survives reloads and sends it once on reconnect, and
// turns server events into per-conversation state (see conversation.js).
//
// Events (CustomEvent, detail in brackets):
//   state [state]            idle | connecting | connected | offline | revoked | closed
//   connected [chat:connected data, plus resumed]
//   message [message]        a new message in any conversation (also from us)
//   send_failed [{item, error}]
//   upload_progress [{client_id, conversation_id, progress}]  progress 0..1 of a file being sent
//   revoked [error]          the address or token is no longer valid: no more retries
//   and every server event by its own name ("chat:user_status", "inbox:status", ...).

import { Conversation } from './conversation.js';
import { Outbox, safeStorage } from './outbox.js';
import { clientId } from './ids.js';
import { ParleyError, readJSON } from './errors.js';
import { Calls } from './call.js';

export { ParleyError, readJSON };

// INBOX stands for a visitor's inbox conversation before it exists: the
// first message sent to it opens it.
export const INBOX = '@inbox';

const REQUEST_TIMEOUT_MS = 20000;
const IDLE_PING_MS = 25000; // ping after this long without a frame...
const DEAD_MS = 40000; // ...and give the connection up after this long
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;

// Errors that a later retry may cure; anything else drops the message.
const RETRYABLE = new Set(['offline', 'timeout', 'internal', 'rate_limited', 'shutting_down', 'unauthenticated', 'token_expired']);
// A chat:sync naming a conversation we may not read fails with one of these.
const REFUSED = new Set(['not_found', 'not_member']);

// signedFor reports whether att carries a signed download URL that works
// for at least ms more; skew is the server's clock minus ours (a device
// whose clock runs minutes ahead would otherwise take every URL for
// expired).
function signedFor(att, ms, skew = 0) {
  return !!att?.url?.startsWith('/api/v1/downloads/') && Date.parse(att.url_expires_at) - (Date.now() + skew) > ms;
}

export class Client extends EventTarget {
  // url: the Parley server ("https://chat.example.com");
  // token: async ({refresh}) => access token (refresh: the last one was refused);
  // storageKey: where the outbox lives in localStorage.
  constructor({ url, token, storageKey = 'parley', storage } = {}) {
    super();
    this.base = String(url || location.origin).replace(/\/+$/, '');
    this.getToken = token;
    this.storage = storage === undefined ? safeStorage() : storage;
    this.outbox = new Outbox(storageKey + '.outbox', this.storage);
    this.convs = new Map();
    this.presence = new Map(); // user id → Presence
    this.state = 'idle';
    this.me = null;
    this.inboxStatus = null;
    this.since = null; // timestamp of the last chat:connected, for chat:sync
    this.token = null;
    this.ws = null;
    this._pending = new Map();
    this._n = 0;
    this._attempt = 0;
    this._blobs = new Map(); // attachment id → Promise of the local object URL of a file sent from here
    this._links = new Map(); // attachment id → the attachment with its latest signed URL
    this._skew = 0; // the server's clock minus ours, from the last connected event
    this._linkReqs = new Map(); // attachment id → a fresh link being asked for
    this._stopped = true;
    this.iceServers = []; // STUN/TURN for calls, from chat:connected
    this.limits = {};
    this.calls = new Calls(this);
    this._onOnline = () => this.state === 'offline' && this._dial();
    this._onVisible = () => document.visibilityState === 'visible' && this.state === 'offline' && this._dial();
  }

  get connected() {
    return this.state === 'connected';
  }

  // conversation returns the state of one conversation, made on first use.
  conversation(id, info) {
    let c = this.convs.get(id);
    if (!c) {
      c = new Conversation(this, id, info);
      this.convs.set(id, c);
    } else if (info) {
      Object.assign(c.info, info);
      if (info.reads) for (const [u, s] of Object.entries(info.reads)) c.reads[u] = Math.max(c.reads[u] || 0, s);
    }
    return c;
  }

  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    addEventListener('online', this._onOnline);
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this._onVisible);
    this._live = setInterval(() => this._checkAlive(), 5000);
    this._dial();
  }

  close() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._live);
    removeEventListener('online', this._onOnline);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this._onVisible);
    if (this.ws) this.ws.close(1000);
    this._setState('closed');
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this._fire('state', s);
  }

  _fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _dial() {
    clearTimeout(this._retryTimer);
    if (this._stopped || this.state === 'connecting' || this.state === 'revoked') return;
    this._setState('connecting');
    try {
      this.token = await this.getToken({ refresh: !!this._staleToken });
      this._staleToken = false;
    } catch (e) {
      if (e.code === 'address_invalid') return this._revoke(e);
      return this._retry(e);
    }
    if (this._stopped) return;
    // Resume only when there is something to resume: the server then holds
    // live events until our chat:sync has replayed what we missed.
    this._resume = !!this.me && [...this.convs.values()].some((c) => c.loaded);
    const url = this.base.replace(/^http/, 'ws') + '/ws' + (this._resume ? '?resume=1' : '');
    let ws;
    try {
      ws = new WebSocket(url, ['parley.v1', 'bearer.' + this.token]);
    } catch (e) {
      return this._retry(e);
    }
    this.ws = ws;
    this._authed = false;
    this._lastFrame = Date.now();
    ws.onmessage = (e) => this._frame(ws, e.data);
    ws.onclose = (e) => this._closed(ws, e);
  }

  _retry(err, now = false) {
    this.ws = null;
    this._setState('offline');
    if (this._stopped) return;
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this._attempt++);
    const delay = now ? 0 : cap / 2 + Math.random() * (cap / 2);
    this._fire('retry', { delay, error: err });
    this._retryTimer = setTimeout(() => this._dial(), delay);
  }

  _revoke(err) {
    this._stopped = true;
    clearInterval(this._live);
    this._setState('revoked');
    this._fire('revoked', err);
  }

  _closed(ws, e) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._authed = false;
    for (const [, p] of this._pending) p.reject(new ParleyError('offline', 'the connection closed'));
    this._pending.clear();
    const err = this._lastError;
    this._lastError = null;
    if (this._stopped) return this._setState('closed');
    if (e.code === 4004 || err?.code === 'address_invalid') return this._revoke(err || new ParleyError('address_invalid', 'this chat address is no longer valid'));
    if (e.code === 4001 || e.code === 4003) this._staleToken = true;
    if (e.code === 4029) this._attempt = Math.max(this._attempt, 4); // over a limit: back off longer
    if (e.code === 4009) this._attempt = 0; // events were lost between nodes: resume at once
    this._retry(err || new ParleyError('offline', `closed (${e.code})`), e.code === 4009);
  }

  _checkAlive() {
    if (!this.ws || !this._authed) return;
    const quiet = Date.now() - this._lastFrame;
    if (quiet > DEAD_MS) {
      this.ws.onclose = null; // a dead peer: do not wait for the browser to notice
      const ws = this.ws;
      ws.close();
      this._closed(ws, { code: 1006 });
    } else if (quiet > IDLE_PING_MS) {
      this.request('ping', {}).catch(() => {});
    }
  }

  async _frame(ws, text) {
    if (ws !== this.ws) return;
    this._lastFrame = Date.now();
    let env;
    try {
      env = JSON.parse(text);
    } catch {
      return;
    }
    const { event, id, data } = env;
    if (id && this._pending.has(id)) {
      const p = this._pending.get(id);
      this._pending.delete(id);
      clearTimeout(p.timer);
      if (event === 'error') p.reject(new ParleyError(data?.code, data?.message, data?.retry_after_ms ? { retryAfterMs: data.retry_after_ms } : {}));
      else p.resolve(data ?? {});
      return;
    }
    switch (event) {
      case 'error':
        this._lastError = new ParleyError(data?.code, data?.message);
        break;
      case 'chat:connected':
        await this._connected(data);
        break;
      case 'chat:message':
        this._message(data);
        break;
      case 'chat:message_edited':
      case 'chat:message_deleted':
        this.convs.get(data.conversation_id)?.apply(data);
        break;
      case 'chat:typing': {
        const c = this.convs.get(data.conversation_id);
        if (c && data.sender_id !== this.me?.id) {
          if (data.is_typing) c.typing.add(data.sender_id);
          else c.typing.delete(data.sender_id);
          c.fire('typing');
        }
        break;
      }
      case 'chat:read': {
        const c = this.convs.get(data.conversation_id);
        if (c && data.seq > (c.reads[data.user_id] || 0)) {
          c.reads[data.user_id] = data.seq;
          c.changed();
        }
        break;
      }
      case 'chat:user_status':
        this.presence.set(data.user_id, data);
        break;
      case 'chat:conversation':
        this.conversation(data.id, data);
        break;
      case 'inbox:status':
        this.inboxStatus = data.status;
        break;
    }
    if (event && event !== 'error') this._fire(event, data);
  }

  async _connected(data) {
    const prevSince = this.since;
    this.me = data.user;
    this.since = data.timestamp;
    const serverNow = Date.parse(data.timestamp);
    if (Number.isFinite(serverNow)) this._skew = serverNow - Date.now();
    this.iceServers = data.ice_servers || [];
    this.limits = data.limits || {};
    if (data.inbox_status) this.inboxStatus = data.inbox_status;
    this._authed = true;
    this._attempt = 0;
    const resumed = this._resume;
    let reset = [];
    if (resumed) {
      try {
        reset = await this._sync(prevSince);
      } catch {
        /* the connection dropped mid-sync: the next one syncs again */
        return;
      }
    }
    this._setState('connected');
    this._fire('connected', { ...data, resumed });
    for (const c of reset) this._reload(c);
    this._flush();
  }

  // _sync replays what was missed in every loaded conversation: the
  // server sends the missed chat:message events (and, with since, the edits
  // and deletions) before its reply. Each cursor carries the id of the
  // message at its seq, so the server can tell a cursor from another
  // history (a restored backup): it lists those conversations in reset,
  // whose messages are dropped here, before any later event, and which
  // are returned to be reloaded once connected.
  async _sync(since) {
    const loaded = [...this.convs.values()].filter((c) => c.loaded);
    try {
      return await this._syncRounds(loaded, since);
    } catch (e) {
      if (!REFUSED.has(e.code)) throw e;
    }
    // A server that refuses the whole sync for a conversation we may no
    // longer read (instead of listing it in refused): sync each alone.
    const reset = [];
    for (const c of loaded) {
      try {
        reset.push(...(await this._syncRounds([c], since)));
      } catch (e) {
        if (!REFUSED.has(e.code)) throw e;
        c.forget();
      }
    }
    return reset;
  }

  async _syncRounds(convs, since) {
    const reset = [];
    for (let round = 0; round < 50 && convs.length; round++) {
      const cursors = {};
      const ids = {};
      for (const c of convs) {
        cursors[c.id] = c.lastSeq;
        if (c.lastSeq) ids[c.id] = c.bySeq[c.bySeq.length - 1].id;
      }
      const r = await this.request('chat:sync', { cursors, cursor_ids: ids, since: since || undefined }, { early: true });
      for (const id of r.reset || []) {
        const c = this.convs.get(id);
        if (!c) continue;
        c.forget();
        reset.push(c);
      }
      // Left elsewhere, or gone with a restored backup: nothing more to follow.
      for (const id of Object.keys(r.refused || {})) this.convs.get(id)?.forget();
      convs = (r.truncated || []).map((id) => this.convs.get(id)).filter(Boolean);
    }
    return reset;
  }

  // _reload loads a conversation again after the server reset it.
  _reload(c) {
    const p = typeof c.reload === 'function' ? c.reload() : c.loadLatest();
    Promise.resolve(p).catch(() => {
      /* still empty and not loaded: opening it loads it */
    });
  }

  _message(m) {
    const c = this.conversation(m.conversation_id);
    c.apply(m);
    Object.assign(c.info, { last_message: m, last_seq: Math.max(c.info.last_seq || 0, m.seq), updated_at: m.created_at });
    this._fire('message', m);
  }

  // request sends one request and resolves with its reply's data, or
  // rejects with a ParleyError (code "offline" when not connected).
  request(event, data = {}, { timeout = REQUEST_TIMEOUT_MS, early = false } = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || !this._authed || (!early && !this.connected)) {
      return Promise.reject(new ParleyError('offline', 'not connected'));
    }
    const id = String(++this._n);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new ParleyError('timeout', `no reply to ${event}`));
      }, timeout);
      this._pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ event, id, data }));
    });
  }

  // notify sends a request whose reply nobody waits for (typing).
  notify(event, data) {
    this.request(event, data).catch(() => {});
  }

  // --- sending ---

  pendingFor(convId) {
    return this.outbox.items.filter((m) => m.conversation_id === convId);
  }

  // send queues a text message and sends it as soon as the connection
  // allows: now, or after a reconnect, or after a reload. It returns the
  // pending message (shown until the server's copy arrives).
  send(convId, { text, replyTo } = {}) {
    const item = {
      client_id: clientId(), conversation_id: convId, type: 'text', text, reply_to: replyTo || undefined,
      sender_id: this.me?.id, created_at: new Date().toISOString(), pending: true,
    };
    this.outbox.add(item);
    this._touch(convId);
    this._flush();
    return item;
  }

  // sendFile uploads a file (with progress) and sends it as an image,
  // voice or file message. It waits in the outbox like text, in memory.
  sendFile(convId, file, { kind, durationMs, caption } = {}) {
    kind = kind || (file.type.startsWith('image/') ? 'image' : 'file');
    const item = {
      client_id: clientId(), conversation_id: convId, type: kind, text: caption || undefined,
      duration_ms: durationMs || undefined, file, name: file.name || kind, size: file.size,
      localURL: URL.createObjectURL(file), progress: 0,
      sender_id: this.me?.id, created_at: new Date().toISOString(), pending: true,
    };
    this.outbox.add(item);
    this._touch(convId);
    this._flush();
    return item;
  }

  // retry puts a failed message back in the queue.
  retry(clientId) {
    this.outbox.update(clientId, { failed: undefined });
    const m = this.outbox.items.find((x) => x.client_id === clientId);
    if (m) this._touch(m.conversation_id);
    this._flush();
  }

  discard(clientId) {
    const m = this.outbox.items.find((x) => x.client_id === clientId);
    this.outbox.remove(clientId);
    if (m) this._touch(m.conversation_id);
  }

  _touch(convId) {
    this.convs.get(convId)?.changed();
  }

  async _flush() {
    if (this._flushing) return;
    this._flushing = true;
    try {
      for (;;) {
        if (!this.connected) return;
        const item = this.outbox.items.find((m) => !m.failed);
        if (!item) return;
        if (!(await this._sendOne(item))) return;
      }
    } finally {
      this._flushing = false;
    }
  }

  // _sendOne sends one queued message. It returns false to stop flushing
  // for now (a retryable failure: the next connection tries again).
  async _sendOne(item) {
    try {
      if (item.conversation_id === INBOX) {
        const c = await this.openInbox();
        this.outbox.retarget(INBOX, c.id);
      }
      const req = {
        conversation_id: item.conversation_id, client_id: item.client_id, type: item.type,
        text: item.text, reply_to: item.reply_to, duration_ms: item.duration_ms,
      };
      if (item.file) {
        if (!item.attachment_id) {
          const att = await this.upload(item.conversation_id, item.file, item.type, (p) => {
            item.progress = p;
            this._fire('upload_progress', { client_id: item.client_id, conversation_id: item.conversation_id, progress: p });
            this._touch(item.conversation_id);
          });
          item.attachment_id = att.id;
          item.progress = 1;
        }
        req.attachment_id = item.attachment_id;
      }
      const m = await this.request('chat:send', req);
      this.outbox.remove(item.client_id);
      if (item.localURL) this._blobs.set(m.attachment?.id, Promise.resolve(item.localURL));
      this._message(m);
      return true;
    } catch (e) {
      if (e.code === 'rate_limited') {
        await new Promise((r) => setTimeout(r, Math.min(e.retryAfterMs || 1000, 30000)));
        return this.connected;
      }
      if (RETRYABLE.has(e.code) || e.code === undefined) {
        if (e.code === 'unauthenticated' || e.code === 'token_expired') this._staleToken = true;
        return false;
      }
      this.outbox.update(item.client_id, { failed: e.code, error: e.message });
      this._touch(item.conversation_id);
      this._fire('send_failed', { item, error: e });
      return true;
    }
  }

  // openInbox returns the visitor's inbox conversation, opening it on first use.
  async openInbox() {
    const info = await this.request('chat:inbox', {});
    const c = this.conversation(info.id, info);
    const placeholder = this.convs.get(INBOX);
    if (placeholder && placeholder !== c) {
      this.outbox.retarget(INBOX, c.id);
      this.convs.delete(INBOX);
      this._fire('inbox_opened', c);
    }
    return c;
  }

  // --- REST ---

  // api calls the REST API with the current token, renewing it once when
  // the server says it expired.
  async api(method, path, body, { retried = false } = {}) {
    if (!this.token) this.token = await this.getToken({ refresh: false });
    const headers = { Authorization: 'Bearer ' + this.token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.base + '/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401 && !retried) {
      this.token = await this.getToken({ refresh: true });
      return this.api(method, path, body, { retried: true });
    }
    return readJSON(res);
  }

  // upload sends a file to a conversation with progress (0..1) and
  // resolves with the attachment. XMLHttpRequest, because fetch cannot
  // report upload progress.
  upload(convId, file, kind, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const q = `kind=${encodeURIComponent(kind)}&name=${encodeURIComponent(file.name || kind)}`;
      xhr.open('POST', `${this.base}/api/v1/conversations/${encodeURIComponent(convId)}/attachments?${q}`);
      xhr.setRequestHeader('Authorization', 'Bearer ' + this.token);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onload = () => {
        let body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress?.(1);
          resolve(body);
        } else {
          const e = body.error || {};
          reject(new ParleyError(e.code || (xhr.status >= 500 ? 'internal' : 'bad_request'), e.message || `upload failed (${xhr.status})`, { status: xhr.status }));
        }
      };
      xhr.onerror = () => reject(new ParleyError('offline', 'the upload was interrupted'));
      xhr.send(file);
    });
  }

  // blobURL resolves with a URL an <img>, <audio> or link loads without
  // the token: the attachment's signed URL while it has a minute to run,
  // else a fresh one from the server (GET /attachments/{id}/link). A file
  // this client just sent keeps its local object URL.
  blobURL(att) {
    if (!att?.id) return Promise.resolve('');
    const local = this._blobs.get(att.id);
    if (local) return local;
    const known = this._links.get(att.id) || att;
    if (signedFor(known, 60e3, this._skew)) {
      this._links.set(att.id, known);
      return Promise.resolve(this.base + known.url);
    }
    let p = this._linkReqs.get(att.id);
    if (!p) {
      p = this.api('GET', `/attachments/${encodeURIComponent(att.id)}/link`)
        .then((a) => {
          // Just issued: good whatever this device's clock says.
          if (!a?.url?.startsWith('/api/v1/downloads/')) throw new ParleyError('not_found', 'attachment unavailable');
          this._links.set(att.id, a);
          return this.base + a.url;
        })
        .finally(() => this._linkReqs.delete(att.id));
      this._linkReqs.set(att.id, p);
    }
    return p;
  }

  setStatus(status) {
    return this.request('chat:set_status', { status });
  }

  // fetchPresence asks for users' status now; chat:user_status events keep
  // client.presence current afterwards.
  async fetchPresence(userIds) {
    if (!userIds.length) return [];
    const { users } = await this.request('chat:presence', { user_ids: userIds });
    for (const p of users) this.presence.set(p.user_id, p);
    return users;
  }
}

