// Calls and rooms whose browsers are connected to different nodes of one
// cluster (two parley processes on one PostgreSQL database and one Redis
// prefix, docs/scaling.md): a 1:1 video call from a page on node A to a
// page on node B rings, connects and carries video and audio both ways, and
// hanging up ends it on both; a room joined from both nodes shows each page
// the other's video; when the room's node dies, the page on the other node
// is back in the room by itself, on its own node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, launchBrowser, hostPage } from './lib/harness.mjs';
import { W, openWidget, say, signInWithLink, eventually } from './lib/ui.mjs';
import { sdkParty, state, flowing, screenOf, button, stat, grows } from './lib/calls.mjs';
import { roomPage, join, userToken, decoding } from './lib/rooms.mjs';

let cluster, browser, a, b;
before(async () => {
  // A silent node counts as dead after 3 s (its rooms move sooner).
  cluster = await Cluster.start(2, ['--cluster-ttl', '3s']);
  [a, b] = cluster.nodes;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await cluster?.close();
});

test('a 1:1 video call between a page on node A and a page on node B', async () => {
  const alice = await sdkParty(browser, a, 'alice', { token: await userToken(a, 'alice') });
  const bob = await sdkParty(browser, b, 'bob', { token: await userToken(b, 'bob') });
  const conv = await alice.evaluate(async () => (window.P.conv = (await window.P.client.request('chat:create', { kind: 'direct', members: ['bob'] })).id));

  await alice.evaluate(() => window.P.client.calls.start(window.P.conv, 'video'));
  await eventually('bob rings on node B', () => bob.evaluate(() => window.P.sessions.at(-1)?.state === 'ringing'));
  assert.equal(await bob.evaluate(() => window.P.sessions.at(-1).conversationId), conv);
  await bob.evaluate(() => window.P.sessions.at(-1).accept());
  for (const p of [alice, bob]) await eventually('the call is active', async () => (await state(p)) === 'active', { timeout: 20000 });
  await flowing([alice, bob], 'across nodes');

  await alice.evaluate(() => window.P.client.calls.current.hangup());
  await eventually('bob sees it end', async () => (await state(bob)) === 'ended');
  assert.equal(await state(alice), 'ended');
  assert.equal(await bob.evaluate(() => window.P.client.calls.current), null, 'bob is free for another call');
  // The call's record, written by the caller's node, is read on the other.
  const token = await userToken(b, 'bob');
  const callEvents = async () => (await b.api('GET', `/conversations/${conv}/messages`, { token })).json.messages
    .filter((m) => m.type === 'call').map((m) => m.text + (m.duration_ms > 0 ? '+' : ''));
  await eventually('the call is recorded', async () => (await callEvents()).length === 2);
  assert.deepEqual(await callEvents(), ['video:started', 'video:ended+']);
  for (const p of [alice, bob]) await p.context().close();
});

test('bob on both nodes: both pages ring, he answers on B; then each side\'s connection drops mid-call and the call goes on', async () => {
  const alice = await sdkParty(browser, a, 'alice', { token: await userToken(a, 'alice') });
  const bobB = await sdkParty(browser, b, 'bob', { token: await userToken(b, 'bob') });
  const bobA = await sdkParty(browser, a, 'bob', { token: await userToken(a, 'bob') });
  await alice.evaluate(async () => (window.P.conv = (await window.P.client.request('chat:create', { kind: 'direct', members: ['bob'] })).id));
  await alice.evaluate(() => window.P.client.calls.start(window.P.conv, 'video'));
  for (const p of [bobA, bobB]) await eventually('both of bob\'s pages ring', () => p.evaluate(() => window.P.sessions.at(-1)?.state === 'ringing'));
  await bobB.evaluate(() => window.P.sessions.at(-1).accept());
  await eventually('the page on node A stops ringing', () => bobA.evaluate(() => window.P.sessions.at(-1).state === 'ended' && window.P.sessions.at(-1).reason));
  assert.equal(await bobA.evaluate(() => window.P.sessions.at(-1).reason), 'answered_elsewhere');
  for (const p of [alice, bobB]) await eventually('the call is active', async () => (await state(p)) === 'active', { timeout: 20000 });
  await flowing([alice, bobB], 'answered on node B');

  // A dropped WebSocket comes back to the same node, which tells the other
  // node's party; the caller restarts ICE: the callee sees new credentials.
  const ufrag = (page) => page.evaluate(() => window.P.client.calls.current.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]);
  for (const [who, page] of [['bob (callee, node B)', bobB], ['alice (caller, node A)', alice]]) {
    const before = await ufrag(bobB);
    await page.evaluate(() => window.P.client.ws.close(4000, 'test: the network went away'));
    await eventually(`${who} is connected again`, () => page.evaluate(() => window.P.client.state === 'connected'));
    await eventually(`ICE restarted after ${who} rejoined`, async () => (await ufrag(bobB)) !== before, { timeout: 15000 });
    await flowing([alice, bobB], `after ${who} rejoined`);
    assert.deepEqual([await state(alice), await state(bobB)], ['active', 'active']);
  }
  await bobB.evaluate(() => window.P.client.calls.current.hangup());
  await eventually('alice sees it end', async () => (await state(alice)) === 'ended');
  for (const p of [alice, bobA, bobB]) await p.context().close();
});

test('by the buttons: a visitor\'s widget on node A calls the owner\'s console on node B', async () => {
  const host = await hostPage(a);
  const contexts = [];
  const page = async () => {
    const ctx = await browser.newContext({ permissions: ['camera', 'microphone'] });
    contexts.push(ctx);
    const p = await ctx.newPage();
    p.on('pageerror', (e) => console.error('pageerror', e.message));
    return p;
  };
  try {
    const agent = await page();
    await signInWithLink(agent, b);
    const visitor = await page();
    await visitor.goto(host.url);
    await openWidget(visitor);
    await say(visitor, 'Could we talk on video?');
    await agent.locator('nav[aria-label="Conversations"]', { hasText: 'Could we talk on video?' }).waitFor();

    await W.panel(visitor).locator('button[aria-label="Start a video call"]').click();
    await button(agent, 'agent', 'Accept').click();
    for (const [p, who] of [[agent, 'agent'], [visitor, 'visitor']]) {
      await eventually(`${who}'s call is active`, async () => (await screenOf(p, who).getAttribute('data-state')) === 'active', { timeout: 20000 });
      await button(p, who, 'Show call statistics').click();
    }
    for (const [p, who] of [[agent, 'agent'], [visitor, 'visitor']]) {
      await grows(p, who, 'frames', 10);
      await grows(p, who, 'audio_packets');
      // Each side's page shows the other moving, with sound.
      const video = (sel) => p.evaluate((sel) => {
        const v = document.querySelector(sel) || document.querySelector('parley-chat').shadowRoot.querySelector(sel);
        return { t: v.currentTime, paused: v.paused, muted: v.muted };
      }, sel);
      const first = await video('video.remote');
      await eventually(`${who} sees the other side move, with sound`, async () => {
        const v = await video('video.remote');
        return !v.paused && !v.muted && v.t > first.t + 1;
      }, { timeout: 15000 });
    }
    assert.equal(await stat(agent, 'agent', 'candidate'), 'host');

    await button(visitor, 'visitor', 'Hang up').click();
    await eventually('the console sees it end', async () => (await screenOf(agent, 'agent').count()) === 0 || (await screenOf(agent, 'agent').getAttribute('data-state')) === 'ended');
    await agent.locator('main .call-event', { hasText: /Video call · \d+:\d\d / }).waitFor();
    await W.panel(visitor).locator('.call-event', { hasText: /Video call · \d+:\d\d / }).waitFor();
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
    await host.close();
  }
});

test('a room joined from node A and node B: each page decodes the other\'s video', async () => {
  const token = await userToken(a, 'alice');
  const created = await a.api('POST', '/rooms', { token, body: { name: 'Across' } });
  assert.equal(created.status, 201, created.text);
  const roomId = created.json.id;
  const ctxs = await Promise.all([0, 1].map(() => browser.newContext()));
  const alice = await roomPage(ctxs[0], a, 'alice');
  const bob = await roomPage(ctxs[1], b, 'bob');
  for (const p of [alice, bob]) await join(p, { room: roomId, media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
  await decoding([alice, bob], 1, 'room across nodes');

  // Each sees the other as a participant with a camera and a microphone,
  // and node B lists both.
  const seen = async (page) => page.evaluate(() => [...window.R.room.participants.values()].map((p) => [p.name, [...p.tracks.values()].map((t) => t.kind).sort().join()]));
  assert.deepEqual(await seen(alice), [['Bob', 'audio,video']]);
  assert.deepEqual(await seen(bob), [['Alice', 'audio,video']]);
  const listed = await b.api('GET', `/rooms/${roomId}`, { token: await userToken(b, 'bob') });
  assert.equal(listed.status, 200, listed.text);
  assert.equal(listed.json.participants.length, 2, JSON.stringify(listed.json));

  // Bob leaves on node B: Alice on node A sees him go.
  await bob.evaluate(() => window.R.room.leave());
  await eventually('bob is gone for alice', () => alice.evaluate(() => window.R.room.participants.size === 0));
  for (const c of ctxs) await c.close();
});

// Last: it kills node A.
test('the room\'s node dies: the page on the other node is back in the room there, and a newcomer sees it', async () => {
  const token = await userToken(a, 'alice');
  const roomId = (await a.api('POST', '/rooms', { token, body: { name: 'Moving' } })).json.id;
  const ctxs = await Promise.all([0, 1, 2].map(() => browser.newContext()));
  const alice = await roomPage(ctxs[0], a, 'alice');
  const bob = await roomPage(ctxs[1], b, 'bob');
  const small = { video: { width: { ideal: 640 }, height: { ideal: 360 } } };
  for (const p of [alice, bob]) await join(p, { room: roomId, media: small });
  await decoding([alice, bob], 1, 'before the move');
  const before = await bob.evaluate(() => window.R.room.me);

  await a.kill();
  // Node B tells Bob the room moved once node A's lease runs out; his page
  // joins again as a new participant, on node B's SFU.
  await eventually('bob is back in the room', () => bob.evaluate((old) => window.R.room.me && window.R.room.me !== old && window.R.room.state === 'connected', before), { timeout: 60000, every: 500 });
  const back = await b.api('GET', `/rooms/${roomId}`, { token: await userToken(b, 'bob') });
  assert.equal(back.status, 200, back.text);
  assert.equal(back.json.name, 'Moving');
  assert.deepEqual(back.json.participants.map((p) => p.name), ['Bob']);
  const carol = await roomPage(ctxs[2], b, 'carol');
  await join(carol, { room: roomId, media: small });
  await decoding([bob, carol], 1, 'after the move');
  for (const c of ctxs) await c.close();
});
