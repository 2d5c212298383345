// Unit tests of the SDK's pure parts (run by Node, no browser): the
// per-conversation state and the outbox. The connection itself is tested
// for real by the browser tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conversation } from '../../web/sdk/conversation.js';
import { Outbox } from '../../web/sdk/outbox.js';
import { clientId } from '../../web/sdk/ids.js';

class MemStorage {
  constructor() { this.m = new Map(); }
  getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }
  setItem(k, v) { this.m.set(k, String(v)); }
  removeItem(k) { this.m.delete(k); }
}

function fakeClient(me = 'usr_me') {
  const outbox = new Outbox('t.outbox', new MemStorage());
  return { me: { id: me }, outbox, connected: true, pendingFor: (id) => outbox.items.filter((m) => m.conversation_id === id) };
}

const msg = (seq, extra = {}) => ({ id: 'msg_' + seq, seq, conversation_id: 'c1', sender_id: 'usr_them', text: 't' + seq, created_at: new Date(1e12 + seq).toISOString(), ...extra });

test('messages are kept once each, in seq order, whatever order they arrive in', () => {
  const c = new Conversation(fakeClient(), 'c1');
  const fresh = [5, 3, 4, 1, 2, 3, 5].map((s) => c.apply(msg(s), { quiet: true }));
  assert.deepEqual(fresh, [true, true, true, true, true, false, false]);
  assert.deepEqual(c.bySeq.map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.equal(c.lastSeq, 5);
});

test('the newest state of a message wins: an edit or deletion is never undone by a stale copy', () => {
  const c = new Conversation(fakeClient(), 'c1');
  c.apply(msg(1));
  c.apply(msg(1, { text: 'edited', edited_at: new Date(2e12).toISOString() }));
  c.apply(msg(1)); // a history page fetched before the edit
  assert.equal(c.byId.get('msg_1').text, 'edited');
  c.apply(msg(1, { text: '', deleted_at: new Date(3e12).toISOString() }));
  c.apply(msg(1, { text: 'edited', edited_at: new Date(2e12).toISOString() }));
  assert.ok(c.byId.get('msg_1').deleted_at);
  assert.equal(c.byId.get('msg_1').text, '');
});

test('a pending message disappears when the server copy arrives', () => {
  const cl = fakeClient();
  const c = new Conversation(cl, 'c1');
  cl.outbox.add({ client_id: 'cid1', conversation_id: 'c1', text: 'hi', pending: true });
  assert.equal(c.list().length, 1);
  c.apply(msg(1, { sender_id: 'usr_me', client_id: 'cid1', text: 'hi' }));
  assert.deepEqual(c.list().map((m) => m.id), ['msg_1'], 'shown once, as the server copy');
});

test('new messages from others are announced; ours and replays are not', () => {
  const c = new Conversation(fakeClient(), 'c1');
  const heard = [];
  c.addEventListener('message', (e) => heard.push(e.detail.seq));
  c.apply(msg(1));
  c.apply(msg(2, { sender_id: 'usr_me' }));
  c.apply(msg(1));
  c.apply(msg(3), { quiet: true });
  assert.deepEqual(heard, [1]);
});

test('read positions: others for our ticks, ours for unread', () => {
  const c = new Conversation(fakeClient(), 'c1', { reads: { usr_me: 2, usr_a: 4, usr_b: 7 }, read_seq: 2 });
  assert.equal(c.readByOthers(), 7);
  assert.equal(c.myReadSeq(), 2);
});

test('forget drops the messages and read positions of a history the server no longer has', () => {
  const c = new Conversation(fakeClient(), 'c1', { reads: { usr_me: 4, usr_a: 4 }, read_seq: 4, last_seq: 4, unread: 1 });
  for (const s of [1, 2, 3, 4]) c.apply(msg(s), { quiet: true });
  c.loaded = true;
  c.hasMore = false;
  let changes = 0;
  c.addEventListener('change', () => changes++);
  c.forget();
  assert.deepEqual(c.list(), []);
  assert.equal(c.lastSeq, 0);
  assert.equal(c.loaded, false);
  assert.equal(c.hasMore, true);
  assert.equal(c.myReadSeq(), 0);
  assert.equal(c.readByOthers(), 0);
  assert.equal(changes, 1);
  // The restored history's messages, at seqs the old one had, are shown.
  assert.equal(c.apply(msg(3, { id: 'msg_new3' }), { quiet: true }), true);
  assert.deepEqual(c.list().map((m) => m.id), ['msg_new3']);
});

test('typing from someone stops when their message arrives', () => {
  const c = new Conversation(fakeClient(), 'c1');
  c.typing.add('usr_them');
  c.apply(msg(1));
  assert.equal(c.typing.size, 0);
});

test('the outbox keeps text across a reload, files only in memory, in order', () => {
  const storage = new MemStorage();
  const a = new Outbox('k', storage);
  a.add({ client_id: '1', conversation_id: '@inbox', text: 'one' });
  a.add({ client_id: '2', conversation_id: '@inbox', type: 'image', file: {}, localURL: 'blob:x', progress: 0.5 });
  a.add({ client_id: '3', conversation_id: '@inbox', text: 'three' });
  const b = new Outbox('k', storage);
  assert.deepEqual(b.items.map((m) => m.client_id), ['1', '3']);
  assert.ok(!('localURL' in b.items[0]) && !('progress' in b.items[0]));
  b.retarget('@inbox', 'cnv_1');
  b.remove('1');
  assert.deepEqual(new Outbox('k', storage).items, [{ client_id: '3', conversation_id: 'cnv_1', text: 'three' }]);
});

test('the outbox survives storage that is full or broken', () => {
  const broken = { getItem: () => '{not json', setItem: () => { throw new Error('QuotaExceeded'); } };
  const o = new Outbox('k', broken);
  assert.deepEqual(o.items, []);
  o.add({ client_id: '1', conversation_id: 'c', text: 'x' });
  assert.equal(o.items.length, 1, 'still queued in memory');
});

test('client ids are unique and sort by time', async () => {
  const a = clientId();
  await new Promise((r) => setTimeout(r, 2));
  const b = clientId();
  assert.ok(a < b, `${a} < ${b}`);
  assert.equal(new Set(Array.from({ length: 1000 }, clientId)).size, 1000);
});

test('every browser module parses', async () => {
  const { readdirSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const root = new URL('../../web/', import.meta.url).pathname;
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.js')) files.push(join(d, e.name));
    }
  };
  walk(root);
  assert.ok(files.length > 10, `found ${files.length} files`);
  for (const f of files) execFileSync(process.execPath, ['--check', f], { stdio: 'pipe' });
});

test("the loader preloads exactly the widget's modules", async () => {
  const { readFileSync } = await import('node:fs');
  const { join, dirname, relative } = await import('node:path');
  const web = new URL('../../web/', import.meta.url).pathname;
  const seen = new Set();
  const visit = (file) => {
    const rel = relative(web, file);
    if (seen.has(rel)) return;
    seen.add(rel);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) visit(join(dirname(file), m[1]));
  };
  visit(join(web, 'widget/parley-chat.js'));
  const loader = readFileSync(join(web, 'widget/loader.js'), 'utf8');
  const listed = new Set([...loader.match(/var modules = \[([^\]]+)\]/)[1].matchAll(/'([^']+)'/g)].map((m) => m[1]));
  assert.deepEqual([...listed].sort(), [...seen].sort());
});

test("calls.start on a visitor's inbox placeholder calls the inbox it opens", async () => {
  globalThis.MediaStream ??= class { getTracks() { return []; } getVideoTracks() { return []; } };
  const { Calls, CallSession } = await import('../../web/sdk/call.js');
  const { INBOX } = await import('../../web/sdk/client.js');
  const getMedia = CallSession.prototype._getMedia;
  CallSession.prototype._getMedia = async function () {};
  try {
    const invites = [];
    const client = new EventTarget();
    client.openInbox = async () => ({ id: 'cnv_inbox' });
    client.request = async (event, data) => {
      invites.push([event, data.conversation_id]);
      return { id: 'call_1', conversation_id: data.conversation_id, state: 'ended', reason: 'missed' };
    };
    const calls = new Calls(client);
    const s = await calls.start(INBOX, 'audio');
    assert.deepEqual(invites, [['call:invite', 'cnv_inbox']]);
    assert.equal(s.reason, 'missed');
  } finally {
    CallSession.prototype._getMedia = getMedia;
  }
});

// historyServer answers chat:history as docs/protocol.md says, over n
// messages: no cursor is the newest page. hold() makes the next answers wait.
function historyServer(n) {
  const all = Array.from({ length: n }, (_, i) => msg(i + 1));
  const srv = { calls: [], held: null };
  srv.request = async (event, d) => {
    assert.equal(event, 'chat:history');
    srv.calls.push(d);
    if (srv.held) await srv.held;
    const limit = d.limit || 50;
    let page;
    if (d.after) page = all.filter((m) => m.seq > d.after && (!d.before || m.seq < d.before)).slice(0, limit + 1);
    else page = all.filter((m) => !d.before || m.seq < d.before).slice(-(limit + 1));
    const more = page.length > limit;
    if (more) page = d.after ? page.slice(0, limit) : page.slice(1);
    return { messages: page.map((m) => ({ ...m })), has_more: more };
  };
  srv.hold = () => {
    let release;
    srv.held = new Promise((r) => (release = r));
    return () => { srv.held = null; release(); };
  };
  return srv;
}

const seqs = (c) => c.bySeq.map((m) => m.seq);
const span = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('a conversation opens at its newest page and pages back to the first message', async () => {
  const srv = historyServer(2345);
  const c = new Conversation({ ...fakeClient(), request: srv.request }, 'c1');
  await c.loadLatest();
  assert.deepEqual(seqs(c), span(2296, 2345));
  assert.ok(c.loaded && c.hasMore);
  // Calls while a page is on its way share it.
  const [a, b] = [c.loadOlder(), c.loadOlder()];
  assert.equal(a, b);
  await a;
  assert.deepEqual(seqs(c), span(2246, 2345));
  while (c.hasMore) await c.loadOlder(100);
  assert.deepEqual(seqs(c), span(1, 2345), 'every message once, in order');
  assert.equal(await c.loadOlder(), 0);
});

test('messages held from before the first load are dropped when a gap lies between them and the newest page', async () => {
  const srv = historyServer(300);
  const c = new Conversation({ ...fakeClient(), request: srv.request }, 'c1');
  c.apply(msg(120), { quiet: true }); // heard live, then the connection missed 121..250
  c.apply(msg(300), { quiet: true });
  await c.loadLatest();
  assert.deepEqual(seqs(c), span(251, 300));
  while (c.hasMore) await c.loadOlder();
  assert.deepEqual(seqs(c), span(1, 300));
});

test('reload forgets what is held, ignores pages asked for before, and loads the newest page', async () => {
  const srv = historyServer(500);
  const c = new Conversation({ ...fakeClient(), request: srv.request }, 'c1');
  await c.loadLatest();
  const resets = [];
  c.addEventListener('reset', () => resets.push(c.bySeq.length));
  const release = srv.hold();
  const older = c.loadOlder();
  const reloaded = c.reload();
  assert.deepEqual(resets, [0], 'reset fires with nothing held');
  assert.ok(!c.loaded);
  release();
  assert.equal(await older, 0, 'the page asked for before the reload is ignored');
  await reloaded;
  assert.deepEqual(seqs(c), span(451, 500));
  assert.ok(c.loaded && c.hasMore && !c.loadingOlder);
  await c.loadOlder();
  assert.deepEqual(seqs(c), span(401, 500));
});

// A stand-in RTCPeerConnection: rooms only need it to exist and close.
class FakePC {
  constructor() { this.connectionState = 'new'; }
  close() {}
  addTransceiver() { return { sender: { replaceTrack: async () => {} } }; }
}

// roomServer answers channel:subscribe and room:join, counting the joins.
function roomServer() {
  const client = new EventTarget();
  client.joins = [];
  let n = 0;
  client.request = async (event, d) => {
    if (event !== 'channel:subscribe' && event !== 'room:join') return {};
    client.joins.push(event);
    n++;
    return { participant_id: 'par_' + n, room: { id: 'chan_1', kind: 'channel', channel: 'live', participants: [] } };
  };
  client.emit = (name, detail) => client.dispatchEvent(new CustomEvent(name, { detail }));
  return client;
}

const until = async (cond) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met within 1s');
};

test('a room whose node moved is joined again by itself; other closes end it', async () => {
  globalThis.MediaStream ??= class { getTracks() { return []; } getVideoTracks() { return []; } getAudioTracks() { return []; } };
  globalThis.RTCPeerConnection ??= FakePC;
  const { Rooms } = await import('../../web/sdk/room.js');
  Rooms.retryDelay = 1;
  // The node answers node_unavailable twice (its lease has not run out), then the room is back.
  const client = roomServer();
  const room = await new Rooms(client).watch('live');
  assert.equal(room.me, 'par_1');
  const closed = [];
  room.addEventListener('closed', (e) => closed.push(e.detail));
  client.request = ((orig, errs) => async (ev, d) => {
    if (ev === 'channel:subscribe' && errs.length) {
      client.joins.push(ev);
      throw Object.assign(new Error('x'), { code: errs.shift() });
    }
    return orig(ev, d);
  })(client.request, ['node_unavailable', 'node_unavailable']);
  client.emit('room:closed', { room: 'chan_1', channel: 'live', reason: 'moved' });
  await until(() => room.me === 'par_2');
  assert.equal(client.joins.length, 4, 'the first join, two refused, one admitted');
  assert.deepEqual(closed, [], 'a moved room does not close');
  assert.notEqual(room.state, 'closed');

  // Moved while our own connection is down: the room waits for the new one.
  client.request = ((orig) => async (ev, d) => {
    if (!client.online) throw Object.assign(new Error('offline'), { code: 'offline' });
    return orig(ev, d);
  })(client.request);
  client.emit('room:closed', { room: 'chan_1', channel: 'live', reason: 'moved' });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(room.state, 'joining', 'waiting for the connection, not closed');
  client.online = true;
  client.emit('connected', {});
  await until(() => room.me === 'par_3');

  client.emit('room:closed', { room: 'chan_1', channel: 'live', reason: 'closed' });
  assert.equal(room.state, 'closed');
  assert.deepEqual(closed, ['closed']);
});
