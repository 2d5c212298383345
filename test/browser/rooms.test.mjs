// Group calls and broadcasts through Parley's SFU, in headless Chromium
// with fake cameras: three people in one room each decode the other two's
// video; one broadcaster and five viewers (sharing a browser) all decode
// the broadcast; dynacast and muting reach the other side.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, launchBrowser, sleep } from './lib/harness.mjs';
import { eventually } from './lib/ui.mjs';
import { roomPage, join, roomStats, userToken, decoding } from './lib/rooms.mjs';

let parley, host, browser;
before(async () => {
  ({ parley, host, browser } = await setup());
});
after(() => teardown({ parley, host, browser }));

test('three people in one room each decode the other two', async () => {
  const token = await userToken(parley, 'alice', 'member');
  const created = await parley.api('POST', '/rooms', { token, body: { name: 'Standup' } });
  assert.equal(created.status, 201, created.text);
  const roomId = created.json.id;
  const ctxs = await Promise.all([0, 1, 2].map(() => browser.newContext()));
  const pages = await Promise.all(['alice', 'bob', 'carol'].map((u, i) => roomPage(ctxs[i], parley, u)));
  // Small pictures keep three encoders within two shared cores.
  for (const p of pages) await join(p, { room: roomId, media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
  await decoding(pages, 2, 'room');

  // Everyone sees the others as participants with tracks.
  const seen = await pages[0].evaluate(() => [...window.R.room.participants.values()].map((p) => [p.name, p.tracks.size]));
  assert.equal(seen.length, 2, JSON.stringify(seen));
  const rest = await parley.api('GET', `/rooms/${roomId}`, { token });
  assert.equal(rest.json.participants.length, 3);
  assert.ok(rest.json.participants.every((p) => p.tracks.length === 2), JSON.stringify(rest.json.participants.map((p) => p.tracks)));

  // Mute reaches the others as track_muted.
  const me = await pages[1].evaluate(() => window.R.room.me);
  await pages[1].evaluate(() => window.R.room.setMuted(true));
  await eventually('alice sees bob muted', () => pages[0].evaluate((me) => {
    const p = window.R.room.participants.get(me);
    return [...(p?.tracks.values() || [])].some((t) => t.kind === 'audio' && t.muted);
  }, me));

  // Bob's WebSocket drops: the server takes him out; his client comes back,
  // joins again as a new participant, and everyone decodes everyone again.
  const before = await pages[1].evaluate(() => window.R.room.me);
  await pages[1].evaluate(() => window.R.client.ws.close(4000));
  await eventually('bob is back in the room', () => pages[1].evaluate((old) => window.R.room.me && window.R.room.me !== old && window.R.room.state === 'connected', before), { timeout: 30000 });
  await eventually('alice sees the new bob', () => pages[0].evaluate(() => window.R.room.participants.size === 2));
  await decoding(pages, 2, 'after a reconnect');

  // Carol leaves: the others see her go and keep decoding each other.
  await pages[2].evaluate(() => window.R.room.leave());
  await eventually('carol is gone for alice', () => pages[0].evaluate(() => window.R.room.participants.size === 1));
  await decoding(pages.slice(0, 2), 1, 'after a leave');

  // Alice closes the room: both are out, told why.
  assert.equal((await parley.api('DELETE', `/rooms/${roomId}`, { token })).status, 204);
  for (const p of pages.slice(0, 2)) {
    await eventually('the room closes for everyone', () => p.evaluate(() => window.R.room.state === 'closed' && window.R.room.reason));
    assert.equal(await p.evaluate(() => window.R.room.reason), 'closed');
  }
  for (const c of ctxs) await c.close();
});

test('simulcast and dynacast: a small tile gets the small layer and the publisher stops the others', async () => {
  const token = await userToken(parley, 'alice', 'member');
  const roomId = (await parley.api('POST', '/rooms', { token, body: { name: 'Layers' } })).json.id;
  const ctxs = await Promise.all([0, 1].map(() => browser.newContext()));
  const [alice, bob] = await Promise.all(['alice', 'bob'].map((u, i) => roomPage(ctxs[i], parley, u)));
  for (const p of [alice, bob]) await join(p, { room: roomId, media: { video: { width: { ideal: 1280 }, height: { ideal: 720 } } } });
  await decoding([alice, bob], 1, 'two at 1280×720');
  const active = () => alice.evaluate(() => window.R.room.pub.getSenders().find((s) => s.track?.kind === 'video').getParameters().encodings.filter((e) => e.active).map((e) => e.rid).join(','));
  assert.equal(await alice.evaluate(() => window.R.room.pub.getSenders().find((s) => s.track?.kind === 'video').getParameters().encodings.length), 3, 'three simulcast encodings');
  // Bob shows Alice in a 160×90 tile: he gets the quarter layer, and Alice sends only that.
  await bob.evaluate(async () => {
    const p = [...window.R.room.participants.values()][0];
    const v = [...p.tracks.values()].find((t) => t.kind === 'video');
    await window.R.room.subscribe(v.id, 160, 90);
  });
  await eventually('alice sends only q', async () => (await active()) === 'q', { timeout: 15000 });
  await eventually('bob decodes the small layer', async () => (await roomStats(bob)).videos[0]?.width <= 320, { timeout: 15000 });
  // Full size again: the full layer comes back.
  await bob.evaluate(async () => {
    const p = [...window.R.room.participants.values()][0];
    const v = [...p.tracks.values()].find((t) => t.kind === 'video');
    await window.R.room.subscribe(v.id, 1280, 720);
  });
  await eventually('alice sends f again', async () => (await active()).includes('f'), { timeout: 15000 });
  // The top layer ramps up with the bandwidth estimate, and Chromium holds
  // it back while it thinks it is short of CPU: on a busy 2-core machine
  // that has taken more than 20 s.
  await eventually('bob decodes 1280 wide', async () => (await roomStats(bob)).videos[0]?.width === 1280, { timeout: 45000 });
  for (const c of ctxs) await c.close();
});

test('a broadcast: one publisher, five viewers decoding', async () => {
  const pubCtx = await browser.newContext();
  const publisher = await roomPage(pubCtx, parley, 'studio');
  await join(publisher, { channel: 'live', media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
  // Viewers share a second browser, one context each.
  const viewerBrowser = await launchBrowser();
  try {
    const viewers = [];
    for (let i = 0; i < 5; i++) {
      const ctx = await viewerBrowser.newContext();
      const page = await roomPage(ctx, parley, 'viewer' + i, i % 2 ? 'visitor' : 'member');
      await join(page, { channel: 'live', watch: true });
      viewers.push(page);
    }
    await decoding(viewers, 1, 'broadcast');
    const token = await userToken(parley, 'alice', 'member');
    const ch = await parley.api('GET', '/channels', { token });
    assert.equal(ch.status, 200);
    const live = ch.json.channels.find((c) => c.name === 'live');
    assert.ok(live && live.live && live.viewers === 5 && live.bitrate > 0, JSON.stringify(ch.json));
    // A second broadcaster is refused.
    const other = await roomPage(pubCtx, parley, 'other');
    const err = await other.evaluate(() => window.R.client.rooms.publish('live', { media: { video: false } }).then(() => '', (e) => e.code));
    assert.equal(err, 'channel_busy');
  } finally {
    await viewerBrowser.close();
    await pubCtx.close();
  }
});

test('a recording of a room plays back with the length it was recorded for', async () => {
  const token = await userToken(parley, 'alice', 'member');
  const roomId = (await parley.api('POST', '/rooms', { token, body: { name: 'Recorded' } })).json.id;
  const ctx = await browser.newContext();
  const page = await roomPage(ctx, parley, 'alice');
  await join(page, { room: roomId, media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
  await eventually('alice publishes two tracks', async () => {
    const r = await parley.api('GET', `/rooms/${roomId}`, { token });
    return r.json.participants[0]?.tracks.length === 2;
  }, { timeout: 20000 });
  const start = await parley.api('POST', `/rooms/${roomId}/recording`, { token: parley.apiKey });
  assert.equal(start.status, 200, start.text);
  const t0 = Date.now();
  await sleep(4000);
  const stop = await parley.api('DELETE', `/rooms/${roomId}/recording`, { token: parley.apiKey });
  assert.equal(stop.status, 200, stop.text);
  const seconds = (Date.now() - t0) / 1000;
  await ctx.close();
  const list = await parley.api('GET', '/recordings', { token: parley.apiKey });
  const rec = list.json.recordings.find((r) => r.room === roomId);
  assert.ok(rec && rec.ended_at && rec.tracks.length === 2, JSON.stringify(list.json));
  const { execFileSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(tmpdir() + '/parley-rec-');
  for (const t of rec.tracks) {
    const res = await fetch(parley.url + t.url, { headers: { Authorization: 'Bearer ' + parley.apiKey } });
    assert.equal(res.status, 200);
    const file = `${dir}/${t.file}`;
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', file]).toString());
    const duration = Number(probe.format.duration);
    assert.ok(Math.abs(duration - seconds) < 1, `${t.codec}: ${duration} s recorded for ${seconds} s`);
    assert.equal(probe.streams[0].codec_name, t.codec.startsWith('video') ? 'vp8' : 'opus');
    // Every frame decodes.
    execFileSync('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  }
});
