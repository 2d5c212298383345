// The group call screen in the console: the Rooms dialog creates a room
// and joins it; two more people join through the SDK; the grid shows three
// tiles with video, the speaker is ringed, mute indicators follow the
// others' microphones, recording shows REC to everyone, a shared screen
// reaches the others, each
// tile asks the SFU for the layer its size needs (the console decodes the
// others' 1280×720 cameras at a tile's size, not at full size); a link
// (#watch=CHANNEL) opens a broadcast full screen. Screenshots of both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join as pathJoin } from 'node:path';
import { setup, teardown, ensureShotsDir, collectErrors } from './lib/harness.mjs';
import { eventually, signInWithLink } from './lib/ui.mjs';
import { roomPage, join } from './lib/rooms.mjs';
import { audit } from './lib/a11y.mjs';

let parley, host, browser, shots;
before(async () => {
  ({ parley, host, browser } = await setup());
  shots = ensureShotsDir();
});
after(() => teardown({ parley, host, browser }));

const tiles = (page) => page.locator('.room-screen .room-tile');

test('a group call in the console: create, join, three tiles, mute, layers by tile size', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
  const page = await ctx.newPage();
  const errors = collectErrors(page, [/favicon/]);
  await signInWithLink(page, parley);
  await page.getByRole('button', { name: 'Rooms and broadcasts' }).click();
  await page.getByLabel('New room').fill('Design review');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('.room-screen[data-state=connected]').waitFor({ timeout: 20000 });
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('parley.console.session')).token);
  const list = await parley.api('GET', '/rooms', { token });
  const room = list.json.rooms.find((r) => r.name === 'Design review');
  assert.ok(room, list.text);

  const others = [];
  for (const [user, size] of [['bob', { width: { ideal: 1280 }, height: { ideal: 720 } }], ['carol', { width: { ideal: 1280 }, height: { ideal: 720 } }]]) {
    const c = await browser.newContext();
    const p = await roomPage(c, parley, user);
    await join(p, { room: room.id, media: { video: size }, tone: user === 'carol' });
    others.push(p);
  }
  await eventually('three tiles with video', async () => (await page.locator('.room-screen .room-tile.has-video').count()) === 3, { timeout: 30000, every: 300 });
  assert.equal(await tiles(page).count(), 3);
  assert.deepEqual((await tiles(page).locator('.tile-label > span:last-child').allTextContents()).sort(), ['Bob', 'Carol', 'You']);

  // Carol sends a steady tone: she is the active speaker, ringed.
  await page.locator('.room-tile.speaking[data-participant]', { hasText: 'Carol' }).waitFor({ timeout: 15000 });

  // Bob mutes: his tile says so.
  await others[0].evaluate(() => window.R.room.setMuted(true));
  await page.locator('.room-tile[aria-label="Bob, muted"]').waitFor({ timeout: 10000 });

  // The tiles are about 600×340: the SFU sends the half-size layer, not 1280×720.
  const sizes = () => page.evaluate(() => [...document.querySelectorAll('.room-tile:not([data-self]) video')].map((v) => [v.videoWidth, v.parentElement.clientWidth]));
  await eventually('remote videos at a tile\'s size', async () => {
    const s = await sizes();
    return s.length === 2 && s.every(([w, tile]) => w > 0 && w <= 640 && tile < 1280) && JSON.stringify(s);
  }, { timeout: 20000, every: 500 }).catch(async (e) => {
    throw new Error(e.message + ' ' + JSON.stringify(await sizes()));
  });
  // The owner records: everyone sees REC.
  await page.getByRole('button', { name: 'Record the room' }).click();
  await page.locator('.room-screen .call-rec:not([hidden])').waitFor();
  await eventually('bob sees the room recorded', () => others[0].evaluate(() => window.R.room.info.recording === true));
  await page.waitForTimeout(800);
  await page.screenshot({ path: pathJoin(shots, 'room-call.png') });
  await audit(page, 'the group call screen', ['.room-screen']);

  await page.waitForTimeout(1500);
  await page.getByRole('button', { name: 'Stop recording' }).click();
  await eventually('bob sees the recording stop', () => others[0].evaluate(() => window.R.room.info.recording === false));

  // Sharing the screen replaces the camera for everyone; stopping brings it back.
  const ownerFrames = () => others[0].evaluate(async () => {
    const s = await window.R.room.stats();
    const owner = [...window.R.room.participants.values()].find((p) => p.name !== 'Carol');
    return s.videos.find((v) => v.participant === owner.id)?.framesDecoded || 0;
  });
  await page.getByRole('button', { name: 'Share your screen' }).click();
  await page.locator('.room-tile.sharing[data-self]').waitFor();
  const f0 = await ownerFrames();
  await eventually('bob decodes the shared screen', async () => (await ownerFrames()) > f0 + 10, { timeout: 15000 });
  await page.getByRole('button', { name: 'Stop sharing your screen' }).click();
  await page.locator('.room-tile[data-self]:not(.sharing)').waitFor();

  // Leaving closes the screen.
  await page.getByRole('button', { name: 'Leave the room' }).click();
  await page.locator('.room-screen').waitFor({ state: 'detached' });
  assert.deepEqual(errors, []);
  for (const p of others) await p.context().close();
  await ctx.close();
});

test('a broadcast opened from a link, full screen', async () => {
  const pubCtx = await browser.newContext();
  const studio = await roomPage(pubCtx, parley, 'studio');
  await join(studio, { channel: 'launch', media: { video: { width: { ideal: 1280 }, height: { ideal: 720 } } } });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(parley.url + '/console/');
  const r = await parley.api('POST', '/auth/login', { body: { login: 'owner@acme.example', password: 'correct horse battery' } });
  assert.equal(r.status, 200, r.text);
  await page.evaluate((s) => localStorage.setItem('parley.console.session', s), JSON.stringify(r.json));
  // The Rooms dialog lists the room and the live channel.
  await page.reload();
  await page.getByRole('button', { name: 'Rooms and broadcasts' }).click();
  await page.locator('li[data-channel=launch] .live-dot').waitFor({ timeout: 15000 });
  await page.locator('li[data-room]', { hasText: 'Design review' }).waitFor();
  await page.locator('li[data-recording]', { hasText: 'Design review' }).waitFor();
  assert.ok(await page.locator('li[data-recording] button', { hasText: 'Video' }).count() >= 1);
  await page.waitForTimeout(300);
  await page.screenshot({ path: pathJoin(shots, 'rooms-dialog.png') });
  await audit(page, 'the Rooms dialog', ['dialog[open]']);
  await page.locator('dialog[open] li[data-recording]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: pathJoin(shots, 'rooms-dialog-recordings.png') });
  await page.keyboard.press('Escape');
  await page.goto(parley.url + '/console/#watch=launch');
  await page.reload(); // a link opened in a new tab
  await page.locator('.room-screen[data-kind=channel] .room-tile.has-video').waitFor({ timeout: 30000 });
  assert.equal(await tiles(page).count(), 1, 'a viewer sees the broadcaster only');
  await page.locator('.room-live:not([hidden])').waitFor();
  await page.waitForTimeout(800);
  await page.screenshot({ path: pathJoin(shots, 'room-watch.png') });
  await audit(page, 'a broadcast', ['.room-screen']);
  await ctx.close();
  await pubCtx.close();
});

test('a broadcast on its public page: a visitor without an account watches; bad links are refused', async () => {
  const pubCtx = await browser.newContext();
  const anchor = await roomPage(pubCtx, parley, 'anchor');
  await join(anchor, { channel: 'public-show', media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = collectErrors(page, [/favicon/]);
  await page.goto(`${parley.url}/watch/${parley.address}/public-show`);
  await page.locator('.room-screen[data-kind=channel] .room-tile.has-video').waitFor({ timeout: 30000 });
  assert.equal(await tiles(page).count(), 1, 'the broadcaster only');
  // Opened from a link, nothing clicked: the browser's default policy
  // refuses sound, so the video plays muted (moving, not black) and a big
  // button offers the sound.
  const video = () => page.evaluate(() => {
    const v = document.querySelector('.room-tile.has-video video');
    return { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, paused: v.paused, muted: v.muted, audio: v.srcObject.getAudioTracks().length, clicked: navigator.userActivation.hasBeenActive };
  });
  const first = await video();
  assert.equal(first.clicked, false, 'nobody has clicked the page');
  assert.equal(first.audio, 1, 'the broadcast has sound');
  await eventually('the video moves, muted', async () => {
    const v = await video();
    return !v.paused && v.muted && v.t > first.t + 1 && v.frames > first.frames + 10;
  }, { timeout: 15000 });
  const sound = page.getByRole('button', { name: 'Turn on sound' });
  await sound.waitFor();
  const box = await sound.boundingBox();
  assert.ok(box.height >= 44 && box.width >= 44, `the sound button is big enough to tap: ${JSON.stringify(box)}`);
  assert.equal(await page.evaluate(() => window.parleyWatch.client.me.role), 'visitor', 'an anonymous visitor of the inbox');
  await page.waitForTimeout(500);
  await page.screenshot({ path: pathJoin(shots, 'watch-page.png') });
  await audit(page, 'the public viewer page', ['.room-screen']);
  // A click turns the sound on: playing, unmuted, still moving.
  await sound.click();
  await sound.waitFor({ state: 'hidden' });
  const unmuted = await video();
  assert.equal(unmuted.muted, false);
  assert.equal(unmuted.paused, false);
  await eventually('the video plays on with sound', async () => {
    const v = await video();
    return !v.paused && !v.muted && v.t > unmuted.t + 1;
  }, { timeout: 15000 });
  // On a phone the button is as easy to find and tap, and covers no control.
  const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const phone = await phoneCtx.newPage();
  await phone.goto(`${parley.url}/watch/${parley.address}/public-show`);
  const tap = phone.getByRole('button', { name: 'Turn on sound' });
  await tap.waitFor();
  const b = await tap.boundingBox();
  assert.ok(b.height >= 44 && b.width >= 120 && b.x >= 0 && b.x + b.width <= 390 && b.y + b.height <= 844, `the sound button on a phone: ${JSON.stringify(b)}`);
  const stop = await phone.getByRole('button', { name: 'Stop watching' }).boundingBox();
  assert.ok(b.y + b.height <= stop.y || stop.y + stop.height <= b.y, 'the sound button covers Stop watching');
  // A tap on the picture, where people tap first, turns the sound on too.
  await phone.locator('.room-tile video').tap();
  await tap.waitFor({ state: 'hidden' });
  await eventually('the phone plays with sound', async () => phone.evaluate(() => {
    const v = document.querySelector('.room-tile video');
    return !!v && !v.muted && !v.paused;
  }));
  await phoneCtx.close();
  assert.deepEqual(errors, []);
  for (const [path, status] of [['/watch/AAAAAAAA/public-show', 404], [`/watch/${parley.address}/no%20spaces`, 404]]) {
    const res = await page.goto(parley.url + path);
    assert.equal(res.status(), status, path);
  }
  await ctx.close();
  await pubCtx.close();
});

test('a group call on a phone', async () => {
  const r = await parley.api('POST', '/auth/login', { body: { login: 'owner@acme.example', password: 'correct horse battery' } });
  const list = await parley.api('POST', '/rooms', { token: r.json.token, body: { name: 'On the go' } });
  const others = [];
  for (const user of ['dana', 'eli']) {
    const c = await browser.newContext();
    const p = await roomPage(c, parley, user);
    await join(p, { room: list.json.id, media: { video: { width: { ideal: 640 }, height: { ideal: 360 } } } });
    others.push(p);
  }
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  await page.goto(parley.url + '/console/');
  await page.evaluate((s) => localStorage.setItem('parley.console.session', s), JSON.stringify(r.json));
  await page.goto(parley.url + `/console/#room=${list.json.id}`);
  await page.reload();
  await eventually('three tiles with video on the phone', async () => (await page.locator('.room-screen .room-tile.has-video').count()) === 3, { timeout: 30000, every: 300 });
  // Every control is on screen and at least 36 px.
  for (const b of await page.locator('.room-screen .call-actions button:visible').all()) {
    const box = await b.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.width >= 36, JSON.stringify(box));
  }
  await page.waitForTimeout(800);
  await page.screenshot({ path: pathJoin(shots, 'room-phone.png') });
  await ctx.close();
  for (const p of others) await p.context().close();
});
