// A visitor calls from the widget and the owner answers in the console, by
// the buttons a person presses (fake camera and microphone). Each side's
// statistics panel (getStats) shows video frames being decoded and audio
// packets arriving; the same forced through the embedded TURN server;
// muting stops the other side receiving audio; sharing the screen and
// going back keeps the call up; the call is in the conversation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown } from './lib/harness.mjs';
import { W, openWidget, say, signInWithLink, eventually } from './lib/ui.mjs';
import { audit } from './lib/a11y.mjs';
import { screenOf, button, stat, grows } from './lib/calls.mjs';

let parley, host, browser, consoleState;
before(async () => {
  ({ parley, host, browser } = await setup());
  const ctx = await browser.newContext();
  await signInWithLink(await ctx.newPage(), parley);
  consoleState = await ctx.storageState();
  await ctx.close();
});
after(() => teardown({ parley, host, browser }));

// open gives the owner's console and a visitor's page with the widget,
// both with camera and microphone allowed.
async function open({ relay = false } = {}) {
  const contexts = [];
  const page = async (opts) => {
    const ctx = await browser.newContext({ permissions: ['camera', 'microphone'], ...opts });
    if (relay) await ctx.addInitScript(() => localStorage.setItem('parley.ice', 'relay'));
    contexts.push(ctx);
    const p = await ctx.newPage();
    p.on('pageerror', (e) => console.error('pageerror', e.message));
    return p;
  };
  const agent = await page({ storageState: consoleState });
  await agent.goto(parley.url + '/console/');
  await agent.locator('nav[aria-label="Conversations"]').waitFor();
  const visitor = await page();
  await visitor.goto(host.url);
  await openWidget(visitor);
  await say(visitor, 'Could we talk on video?');
  return { agent, visitor, close: () => Promise.all(contexts.map((c) => c.close())) };
}

async function connect(agent, visitor) {
  await W.panel(visitor).locator('button[aria-label="Start a video call"]').click();
  await button(agent, 'agent', 'Accept').click();
  for (const [p, who] of [[agent, 'agent'], [visitor, 'visitor']]) {
    await eventually(`${who}'s call is active`, async () => (await screenOf(p, who).getAttribute('data-state')) === 'active', { timeout: 20000 });
    await button(p, who, 'Show call statistics').click();
  }
}

test('a video call from the widget to the console: media both ways, mute, screen share and back', async () => {
  const { agent, visitor, close } = await open();
  await connect(agent, visitor);
  for (const [p, who] of [[agent, 'agent'], [visitor, 'visitor']]) {
    await grows(p, who, 'frames', 10);
    await grows(p, who, 'audio_packets');
  }
  assert.equal(await stat(agent, 'agent', 'candidate'), 'host');
  await audit(agent, 'the console in a call, statistics open', ['.call-screen']);
  await audit(visitor, 'the widget in a call, statistics open', ['parley-chat']);

  // The visitor mutes: the console stops receiving their audio; unmuting brings it back.
  await button(visitor, 'visitor', 'Mute').click();
  await eventually('the console shows them muted', async () => /Muted/.test(await screenOf(agent, 'agent').textContent()));
  await new Promise((r) => setTimeout(r, 1500)); // the last packets in flight and the panel's next second
  const a = await stat(agent, 'agent', 'audio_packets');
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await stat(agent, 'agent', 'audio_packets'), a, 'no audio arrives while they are muted');
  await button(visitor, 'visitor', 'Unmute').click();
  await grows(agent, 'agent', 'audio_packets');

  // The owner shares the screen and goes back to the camera: the visitor keeps decoding video.
  await button(agent, 'agent', 'Share screen').click();
  await button(agent, 'agent', 'Stop sharing').waitFor();
  await grows(visitor, 'visitor', 'frames', 10);
  await button(agent, 'agent', 'Stop sharing').click();
  await button(agent, 'agent', 'Share screen').waitFor();
  await grows(visitor, 'visitor', 'frames', 10);
  assert.equal(await screenOf(visitor, 'visitor').getAttribute('data-state'), 'active');

  await button(visitor, 'visitor', 'Hang up').click();
  await eventually('the console sees it end', async () => (await screenOf(agent, 'agent').count()) === 0 || (await screenOf(agent, 'agent').getAttribute('data-state')) === 'ended');
  // Both threads show the call with its length.
  await agent.locator('main .call-event', { hasText: /Video call · \d+:\d\d / }).waitFor();
  await W.panel(visitor).locator('.call-event', { hasText: /Video call · \d+:\d\d / }).waitFor();
  await close();
});

test('forced through the embedded TURN server, both sides relay', async () => {
  const { agent, visitor, close } = await open({ relay: true });
  await connect(agent, visitor);
  for (const [p, who] of [[agent, 'agent'], [visitor, 'visitor']]) {
    await grows(p, who, 'frames', 10);
    await grows(p, who, 'audio_packets');
    assert.equal(await stat(p, who, 'candidate'), 'relay');
  }
  await button(agent, 'agent', 'Hang up').click();
  await eventually('the widget sees it end', async () => (await screenOf(visitor, 'visitor').count()) === 0 || (await screenOf(visitor, 'visitor').getAttribute('data-state')) === 'ended');
  await close();
});

test('the console declines: the visitor is told, and the call is in the conversation', async () => {
  const { agent, visitor, close } = await open();
  await W.panel(visitor).locator('button[aria-label="Start an audio call"]').click();
  await button(agent, 'agent', 'Decline').waitFor();
  await audit(agent, 'the console ringing', ['.call-screen']);
  await audit(visitor, 'the widget calling', ['parley-chat']);
  await button(agent, 'agent', 'Decline').click();
  await eventually('the visitor sees it declined', async () => (await screenOf(visitor, 'visitor').getAttribute('data-state')) === 'ended');
  await W.panel(visitor).locator('.call-event', { hasText: /declined/i }).waitFor();
  await close();
});

// A call the page starts by script, nobody having clicked it: under the
// browser's default autoplay policy a page that captures the microphone
// may play sound, so the other side is heard at once and no "Turn on
// sound" button shows (the screen would offer one if the sound were
// refused: web/ui/autoplay.js, as the watch page does in rooms-ui).
test('a call started without a click is heard at once: capturing the microphone allows sound', async () => {
  const contexts = [];
  const ctx = async (opts) => {
    const c = await browser.newContext({ permissions: ['camera', 'microphone'], ...opts });
    contexts.push(c);
    return c.newPage();
  };
  const agent = await ctx({ storageState: consoleState });
  await agent.goto(parley.url + '/console/');
  await agent.locator('nav[aria-label="Conversations"]').waitFor();
  const visitor = await ctx();
  await visitor.goto(host.url);
  await W.launcher(visitor).waitFor();
  await visitor.evaluate(async () => {
    const w = document.querySelector('parley-chat');
    w.open();
    for (let i = 0; i < 400 && !(w.client?.state === 'connected' && w.client.calls); i++) await new Promise((r) => setTimeout(r, 50));
    const id = (await w.client.openInbox()).id;
    await w.client.calls.start(id, 'video');
  });
  await button(agent, 'agent', 'Accept').click();
  await eventually('the visitor\'s call is active', async () => (await screenOf(visitor, 'visitor').getAttribute('data-state')) === 'active', { timeout: 20000 });
  const remote = () => visitor.evaluate(() => {
    const v = document.querySelector('parley-chat').shadowRoot.querySelector('video.remote');
    return { t: v.currentTime, paused: v.paused, muted: v.muted, audio: v.srcObject?.getAudioTracks().length, clicked: navigator.userActivation.hasBeenActive };
  });
  const first = await remote();
  assert.equal(first.clicked, false, 'nobody clicked the visitor\'s page');
  assert.equal(first.audio, 1);
  await eventually('the other side\'s video moves, with sound', async () => {
    const v = await remote();
    return !v.paused && !v.muted && v.t > first.t + 1;
  }, { timeout: 15000 });
  assert.equal(await screenOf(visitor, 'visitor').locator('button.sound-btn').isVisible(), false);
  await button(agent, 'agent', 'Hang up').click();
  await Promise.all(contexts.map((c) => c.close()));
});
