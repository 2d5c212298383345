// Calls through the SDK in two browsers (fake camera and microphone):
// media flows both ways, also when forced through the embedded TURN
// server; mute stops outbound audio; screen sharing and back keeps the call
// up; declined, busy and missed calls are written into the conversation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown } from './lib/harness.mjs';
import { eventually } from './lib/ui.mjs';
import { sdkParty, ownerToken as signIn, stats, state, flowing } from './lib/calls.mjs';

let parley, host, browser, ownerToken;
before(async () => {
  ({ parley, host, browser } = await setup());
  ownerToken = await signIn(parley);
});
after(() => teardown({ parley, host, browser }));

const party = (who, opts = {}) => sdkParty(browser, parley, who, { token: ownerToken, ...opts });

// call makes the visitor call the owner, the owner accept, and waits for media.
async function call(visitor, owner, media = 'video') {
  await visitor.evaluate((media) => window.P.client.calls.start(window.P.conv, media), media);
  await eventually('the owner rings', () => owner.evaluate(() => window.P.sessions.at(-1)?.state === 'ringing'));
  await owner.evaluate(() => window.P.sessions.at(-1).accept());
  for (const p of [visitor, owner]) await eventually('the call is active', async () => (await state(p)) === 'active', { timeout: 20000 });
}

async function hangup(page) {
  await page.evaluate(() => window.P.client.calls.current?.hangup());
}

test('a video call: media both ways, mute, screen share and back', async () => {
  const visitor = await party('visitor');
  const owner = await party('owner');
  await call(visitor, owner);
  await flowing([visitor, owner], 'direct');

  // Mute: the visitor sends no more audio packets; unmuting resumes them.
  await visitor.evaluate(() => window.P.client.calls.current.setMuted(true));
  await new Promise((r) => setTimeout(r, 500));
  const m1 = await stats(visitor);
  await new Promise((r) => setTimeout(r, 1500));
  const m2 = await stats(visitor);
  assert.equal(m2.audioPacketsSent, m1.audioPacketsSent, 'no audio leaves while muted');
  await visitor.evaluate(() => window.P.client.calls.current.setMuted(false));
  await eventually('audio flows again', async () => (await stats(visitor)).audioPacketsSent > m2.audioPacketsSent);

  // Screen share, then back to the camera: the call stays up, video keeps decoding.
  await visitor.evaluate(() => window.P.client.calls.current.shareScreen());
  assert.equal(await visitor.evaluate(() => window.P.client.calls.current.sharing), true);
  await flowing([owner], 'sharing');
  await visitor.evaluate(() => window.P.client.calls.current.stopSharing());
  await flowing([owner], 'camera again');
  assert.equal(await state(visitor), 'active');

  await hangup(owner);
  await eventually('the visitor sees it end', async () => (await state(visitor)) === 'ended');
  // The call's record is written just after the call ends.
  const conv = await visitor.evaluate(() => window.P.conv);
  const callEvents = async () => (await parley.api('GET', `/conversations/${conv}/messages`, { token: ownerToken })).json.messages
    .filter((m) => m.type === 'call').map((m) => m.text + (m.duration_ms > 0 ? '+' : ''));
  await eventually('the call is recorded', async () => (await callEvents()).length === 2);
  assert.deepEqual(await callEvents(), ['video:started', 'video:ended+']);
  await visitor.context().close();
  await owner.context().close();
});

test('forced through the embedded TURN server (iceTransportPolicy relay)', async () => {
  const visitor = await party('visitor', { relay: true });
  const owner = await party('owner', { relay: true });
  await call(visitor, owner);
  const s = await flowing([visitor, owner], 'relay');
  assert.deepEqual(s.map((x) => x.candidateType), ['relay', 'relay'], 'both sides send through TURN');
  await hangup(visitor);
  await eventually('the owner sees it end', async () => (await state(owner)) === 'ended');
  await visitor.context().close();
  await owner.context().close();
});

test('declined, busy and missed calls are in the conversation', async () => {
  const visitor = await party('visitor');
  const owner = await party('owner');
  const conv = await visitor.evaluate(() => window.P.conv);
  // Declined.
  await visitor.evaluate(() => window.P.client.calls.start(window.P.conv, 'audio'));
  await eventually('rings', () => owner.evaluate(() => window.P.sessions.at(-1)?.state === 'ringing'));
  await owner.evaluate(() => window.P.sessions.at(-1).reject());
  await eventually('the caller hears it was declined', () => visitor.evaluate(() => window.P.sessions.at(-1).reason === 'declined'));
  // Missed: the caller gives up while it rings.
  await visitor.evaluate(() => window.P.client.calls.start(window.P.conv, 'video'));
  await eventually('rings', () => owner.evaluate(() => window.P.sessions.at(-1)?.state === 'ringing' && window.P.sessions.length === 2));
  await hangup(visitor);
  await eventually('the owner stops ringing', () => owner.evaluate(() => window.P.sessions.at(-1).state === 'ended'));
  // Busy: the owner is in a call with another visitor.
  const other = await party('visitor');
  await call(other, owner, 'audio');
  await visitor.evaluate(() => window.P.client.calls.start(window.P.conv, 'audio'));
  await eventually('busy', () => visitor.evaluate(() => window.P.sessions.at(-1).reason === 'busy'));
  await hangup(other);
  await eventually('three call events', async () => {
    const r = await parley.api('GET', `/conversations/${conv}/messages`, { token: ownerToken });
    return r.json.messages.filter((m) => m.type === 'call').length === 3;
  });
  const r = await parley.api('GET', `/conversations/${conv}/messages`, { token: ownerToken });
  assert.deepEqual(r.json.messages.filter((m) => m.type === 'call').map((m) => m.text), ['audio:declined', 'video:missed', 'audio:busy']);
  for (const p of [visitor, owner, other]) await p.context().close();
});

test('the caller\'s connection drops mid-call: it rejoins, renegotiates over the new one, and the call goes on', async () => {
  const visitor = await party('visitor');
  const owner = await party('owner');
  await call(visitor, owner);
  const ufrag = (page) => page.evaluate(() => window.P.client.calls.current.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]);
  const before = await ufrag(owner);
  await visitor.evaluate(() => window.P.client.ws.close(4000, 'test: the network went away'));
  await eventually('the visitor is connected again', () => visitor.evaluate(() => window.P.client.state === 'connected'));
  // The caller restarts ICE after rejoining: the owner sees new ICE credentials.
  await eventually('ICE restarted over the new connection', async () => (await ufrag(owner)) !== before, { timeout: 15000 });
  await flowing([visitor, owner], 'after the rejoin');
  assert.deepEqual([await state(visitor), await state(owner)], ['active', 'active']);
  await hangup(owner);
  await eventually('the visitor sees it end', async () => (await state(visitor)) === 'ended');
  await visitor.context().close();
  await owner.context().close();
});
