// A visitor on a site with hostile CSS chats with an agent in the console:
// text, an image with upload progress, a dropped file, a voice note,
// typing, read ticks, status changes, edits and deletions, both ways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, collectErrors } from './lib/harness.mjs';
import { W, C, openWidget, say, rowOf, signInWithLink, openConversation, png, watchProgress, eventually, state } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup()));
after(() => teardown({ parley, host, browser }));

test('a visitor and an agent chat live, both ways', async () => {
  const agentCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const visitorCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const agent = await agentCtx.newPage();
  const visitor = await visitorCtx.newPage();
  const agentErrors = collectErrors(agent);
  const visitorErrors = collectErrors(visitor);
  await signInWithLink(agent, parley);

  // The hostile page: "* { all: unset }" and "div { display: none }" do not reach the widget.
  await visitor.goto(host.url + '/products');
  const box = await W.launcher(visitor).boundingBox();
  assert.ok(box && box.width >= 56 && box.height >= 56, `launcher box ${JSON.stringify(box)}`);
  assert.ok(box.x > 1100 && box.y > 650, `launcher is bottom right: ${JSON.stringify(box)}`);
  await openWidget(visitor);
  const panel = await W.panel(visitor).boundingBox();
  assert.ok(panel.width >= 340 && panel.height >= 400, `panel box ${JSON.stringify(panel)}`);
  assert.equal(await visitor.locator('parley-chat').evaluate((el) => getComputedStyle(el).position), 'fixed');
  const fontInside = await W.textarea(visitor).evaluate((el) => getComputedStyle(el).fontFamily);
  assert.ok(!/serif$/.test(fontInside) || /sans/.test(fontInside), `the host's font leaked in: ${fontInside}`);
  // The welcome message greets the visitor.
  await W.bubble(visitor, 'How can we help').waitFor();

  // Text, live to the agent's inbox.
  await say(visitor, 'Hello! Do you ship to Sofia?');
  const item = C.items(agent).first();
  await item.waitFor({ timeout: 10000 });
  await eventually('the new conversation shows an unread message', async () => parseInt(await item.locator('.unread').textContent(), 10) === 1);
  const convId = await item.getAttribute('data-conversation');
  await openConversation(agent, convId);
  await agent.locator('main .bubble', { hasText: 'Do you ship to Sofia?' }).waitFor();

  // The agent has read it: the visitor's message gets its read tick.
  await state(visitor, 'Do you ship to Sofia?', 'read');

  // An image with a progress bar that reaches 100%, live to the agent.
  const maxProgress = await watchProgress(visitor);
  await W.fileInput(visitor).setInputFiles({ name: 'shoe.png', mimeType: 'image/png', buffer: png(640, 480) });
  const img = agent.locator('main .bubble img[alt="shoe.png"]');
  await img.waitFor();
  await eventually('the image is loaded for the agent', () => img.evaluate((el) => el.complete && el.naturalWidth === 640));
  // Loaded by its signed URL (no bearer token, no copy through fetch), which works without a credential.
  const src = await img.evaluate((el) => el.src);
  assert.match(src, /\/api\/v1\/downloads\/[^/]+\/att_[^?]+\?expires=\d+&sig=/, `image src ${src}`);
  const plain = await fetch(src);
  assert.equal(plain.status, 200, 'the signed URL needs no credential');
  assert.equal(plain.headers.get('content-type'), 'image/png');
  const forged = await fetch(src.replace(/sig=[^&]*/, 'sig=' + 'A'.repeat(43)));
  assert.equal(forged.status, 403);
  assert.equal((await forged.json()).error.code, 'url_invalid');
  assert.equal(await maxProgress(), 100, 'upload progress reached 100%');
  await eventually('the visitor sees the sent image', () => visitor.locator('parley-chat .bubble img[alt="shoe.png"]').evaluate((el) => el.naturalWidth === 640));

  // A file dropped onto the chat.
  await visitor.locator('parley-chat .thread').evaluate((el) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['size chart\nEU 42 = US 9\n'], 'sizes.txt', { type: 'text/plain' }));
    for (const type of ['dragenter', 'dragover', 'drop']) el.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true, composed: true }));
  });
  await agent.locator('main .filecard', { hasText: 'sizes.txt' }).waitFor();

  // A voice note recorded in the browser (the fake microphone plays a tone).
  const t0 = Date.now();
  await visitor.locator('parley-chat button[aria-label="Record a voice message"]').click();
  await visitor.locator('parley-chat .recording').waitFor();
  await visitor.waitForTimeout(1500);
  await visitor.locator('parley-chat button[aria-label="Send voice message"]').click();
  const took = (Date.now() - t0) / 1000;
  await agent.locator('main .voice').waitFor();
  const len = await agent.locator('main .voice .len').textContent();
  const secs = Number(len.split(':')[0]) * 60 + Number(len.split(':')[1]);
  assert.ok(secs >= 1 && secs <= Math.ceil(took) + 1, `voice note length ${len} for a recording of ${took.toFixed(1)} s`);

  // The agent types: the visitor's status dot pulses and says so.
  await agent.locator('main textarea[aria-label="Message"]').pressSequentially('Yes, we ', { delay: 30 });
  await eventually('the visitor sees the agent typing', async () => (await W.dot(visitor).getAttribute('class')).includes('typing'));
  assert.match(await W.status(visitor).textContent(), /typing/);
  await agent.locator('main textarea[aria-label="Message"]').fill('Yes, we ship to Sofia in 2 days.');
  await agent.locator('main textarea[aria-label="Message"]').press('Enter');
  await W.bubble(visitor, 'Yes, we ship to Sofia in 2 days.').waitFor();
  await eventually('typing stops with the message', async () => !(await W.dot(visitor).getAttribute('class')).includes('typing'));

  // The visitor types: the agent sees it.
  await W.textarea(visitor).pressSequentially('Great', { delay: 30 });
  await agent.locator('main .typing-line', { hasText: 'typing' }).waitFor();
  await W.textarea(visitor).fill('');

  // The visitor has the chat open: the agent's reply is read.
  await state(agent, 'Yes, we ship to Sofia in 2 days.', 'read', { scope: 'main' });

  // Status: the agent goes away, then busy, then online; the widget follows.
  for (const [status, label] of [['away', 'Away'], ['busy', 'Busy'], ['online', 'Online']]) {
    await C.status(agent).selectOption(status);
    await eventually(`the widget shows ${status}`, async () => (await W.dot(visitor).getAttribute('class')).split(' ').includes(status));
    assert.match(await W.status(visitor).textContent(), new RegExp(label));
  }

  // The visitor edits their message by right-click.
  await W.bubble(visitor, 'Do you ship to Sofia?').click({ button: 'right' });
  await visitor.locator('parley-chat .menu [data-action="edit"]').click();
  assert.equal(await W.textarea(visitor).inputValue(), 'Hello! Do you ship to Sofia?');
  await W.textarea(visitor).fill('Hello! Do you ship to Plovdiv?');
  await W.textarea(visitor).press('Enter');
  await agent.locator('main .bubble', { hasText: 'Do you ship to Plovdiv?' }).waitFor();
  assert.equal(await agent.locator('main .bubble', { hasText: 'Sofia?' }).count(), 0, 'the old text is gone');
  await rowOf(agent, 'Do you ship to Plovdiv?', 'main').locator('.meta', { hasText: 'edited' }).waitFor();

  // The agent deletes their reply; the visitor sees a tombstone.
  await agent.locator('main .bubble', { hasText: 'Yes, we ship to Sofia' }).click({ button: 'right' });
  await agent.locator('main .menu [data-action="delete"]').click();
  await eventually('the visitor sees the deletion', async () => (await W.bubble(visitor, 'Yes, we ship to Sofia').count()) === 0);
  await W.bubble(visitor, 'Message deleted').waitFor();

  // The visitor deletes their image (long-press on a phone is tested in keyboard.test.mjs's touch case).
  await visitor.locator('parley-chat .bubble', { has: visitor.locator('img[alt="shoe.png"]') }).click({ button: 'right' });
  await visitor.locator('parley-chat .menu [data-action="delete"]').click();
  await eventually('the agent sees the image deleted', async () => (await agent.locator('main img[alt="shoe.png"]').count()) === 0);

  // With the chat closed, an answer shows as a count on the button; opening it reads it.
  await visitor.locator('parley-chat button[aria-label="Close chat"]').click();
  await say(agent, 'Anything else?', 'main');
  await visitor.locator('parley-chat .launcher .badge', { hasText: '1' }).waitFor();
  assert.match(await W.launcher(visitor).getAttribute('aria-label'), /1 unread/);
  await W.launcher(visitor).click();
  await W.bubble(visitor, 'Anything else?').waitFor();
  assert.ok(await visitor.locator('parley-chat .launcher .badge').isHidden(), 'opening clears the count');
  assert.doesNotMatch(await W.launcher(visitor).getAttribute('aria-label'), /unread/);
  await state(agent, 'Anything else?', 'read', { scope: 'main' });

  assert.deepEqual(visitorErrors, []);
  assert.deepEqual(agentErrors, []);
  await agentCtx.close();
  await visitorCtx.close();
});

// Signed URLs expire by the server's clock: a visitor whose device runs
// hours ahead still sees the images of the conversation (the SDK corrects
// by the server time of the connected event; it once took every URL for
// expired and showed nothing).
test("a visitor whose clock runs ahead still sees the conversation's images", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.clock.install({ time: Date.now() + 3 * 3600e3 });
  const visitor = await ctx.newPage();
  const errors = collectErrors(visitor);
  await visitor.goto(host.url + '/products');
  await openWidget(visitor);
  await say(visitor, 'Here is the receipt');
  await W.fileInput(visitor).setInputFiles({ name: 'receipt.png', mimeType: 'image/png', buffer: png(320, 200) });
  const img = visitor.locator('parley-chat .bubble img[alt="receipt.png"]');
  await eventually('the visitor sees the sent image', () => img.evaluate((el) => el.complete && el.naturalWidth === 320));
  // A fresh page shows it from the server's copy, by a signed URL.
  await visitor.reload();
  await openWidget(visitor);
  await eventually('the image is shown again after a reload', () => img.evaluate((el) => el.complete && el.naturalWidth === 320 && el.src.includes('/api/v1/downloads/')));
  assert.deepEqual(errors, []);
  await ctx.close();
});
