// The widget says who can answer: with nobody of the team online it offers
// no call (nobody would pick up) and asks the visitor to leave a message;
// once an agent is online the video and audio call buttons appear, and
// they go again when the agent steps away.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setup, teardown, ensureShotsDir, collectErrors } from './lib/harness.mjs';
import { W, C, openWidget, signInWithLink, eventually } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup()));
after(() => teardown({ parley, host, browser }));

const callButtons = (page) => W.panel(page).locator('button[aria-label="Start a video call"], button[aria-label="Start an audio call"]');

test('call buttons only while someone can answer; otherwise leave a message', async () => {
  const visitorCtx = await browser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ['camera', 'microphone'] });
  const visitor = await visitorCtx.newPage();
  const errors = collectErrors(visitor);
  await visitor.goto(host.url);
  await openWidget(visitor);
  // Nobody is online: no call to place, and the header says what to do.
  await eventually('the widget says nobody is available', async () => /Nobody is available right now.*leave a message/.test(await W.status(visitor).textContent()));
  await eventually('the widget is connected', async () => visitor.evaluate(() => document.querySelector('parley-chat').client?.state === 'connected'));
  assert.equal(await callButtons(visitor).count(), 2);
  assert.ok(await W.status(visitor).evaluate((el) => el.scrollHeight <= el.clientHeight + 1), 'the whole sentence shows, not cut off');
  for (const b of await callButtons(visitor).all()) assert.equal(await b.isVisible(), false, 'no call button while nobody can answer');
  await visitor.screenshot({ path: join(ensureShotsDir(), 'widget-nobody-available.png') });

  // An agent opens the console: online, the visitor may call.
  const agentCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const agent = await agentCtx.newPage();
  await signInWithLink(agent, parley);
  await eventually('the widget shows the team online', async () => /Online/.test(await W.status(visitor).textContent()));
  await W.panel(visitor).locator('button[aria-label="Start a video call"]').waitFor({ state: 'visible' });
  await W.panel(visitor).locator('button[aria-label="Start an audio call"]').waitFor({ state: 'visible' });

  // The agent steps away: no calls again, and the visitor is asked to write.
  await C.status(agent).selectOption('away');
  await eventually('the widget shows away', async () => /Away.*leave a message/.test(await W.status(visitor).textContent()));
  for (const b of await callButtons(visitor).all()) await b.waitFor({ state: 'hidden' });
  await C.status(agent).selectOption('online');
  await W.panel(visitor).locator('button[aria-label="Start a video call"]').waitFor({ state: 'visible' });

  // The agent leaves: nobody again.
  await agentCtx.close();
  await eventually('the widget says nobody is available', async () => /Nobody is available right now/.test(await W.status(visitor).textContent()), { timeout: 20000 });
  for (const b of await callButtons(visitor).all()) await b.waitFor({ state: 'hidden' });
  assert.deepEqual(errors, []);
  await visitorCtx.close();
});
