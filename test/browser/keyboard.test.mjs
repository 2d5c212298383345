// The widget works from the keyboard alone, and by touch on a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown } from './lib/harness.mjs';
import { W, say, eventually, state } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup({ host: { css: '', body: '<a href="#top">Top</a> <button type="button">Buy</button>' } })));
after(() => teardown({ parley, host, browser }));

// focused describes the element with focus, inside the widget's shadow root.
const focused = (page) => page.evaluate(() => {
  let el = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  return el ? `${el.tagName.toLowerCase()}${el.getAttribute('aria-label') ? `[${el.getAttribute('aria-label')}]` : ''}` : '';
});

test('open, type, send and close with the keyboard only', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(host.url);
  await W.launcher(page).waitFor();
  // Tab through the page to the chat button.
  let f = '';
  for (let i = 0; i < 6 && !/^button\[Open chat/.test(f); i++) {
    await page.keyboard.press('Tab');
    f = await focused(page);
  }
  assert.match(f, /^button\[Open chat with Support\]$/, 'the launcher is reachable by Tab and named');
  assert.equal(await W.launcher(page).getAttribute('aria-expanded'), 'false');
  await page.keyboard.press('Enter');
  await eventually('focus moves to the message box', async () => (await focused(page)) === 'textarea[Message]');
  assert.equal(await W.launcher(page).getAttribute('aria-expanded'), 'true');
  assert.equal(await W.panel(page).getAttribute('role'), 'dialog');
  await page.keyboard.type('Typed with the keyboard alone');
  await page.keyboard.press('Enter');
  await W.bubble(page, 'Typed with the keyboard alone').waitFor();
  await state(page, 'Typed with the keyboard alone', 'delivered');
  // Shift+Enter is a new line, not a send.
  await page.keyboard.type('line one');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('line two');
  assert.equal(await W.textarea(page).inputValue(), 'line one\nline two');
  await page.keyboard.press('Enter');
  await W.bubble(page, 'line one\nline two').waitFor();
  // Every control in the panel has a name.
  const unnamed = await page.locator('parley-chat').evaluate((el) =>
    [...el.shadowRoot.querySelectorAll('button, textarea, input:not([type=file])')]
      .filter((b) => !b.hidden && !b.closest('[hidden]') && !(b.getAttribute('aria-label') || b.textContent.trim())).map((b) => b.outerHTML));
  assert.deepEqual(unnamed, []);
  // The message menu from the keyboard: up arrow into the log, context-menu key.
  await page.keyboard.press('Shift+Tab'); // the paperclip
  await page.keyboard.press('Shift+Tab'); // the log
  await page.keyboard.press('ArrowUp');
  await eventually('a message has focus', async () => /^div\[You at/.test(await focused(page)));
  // The message changes under the focus (the team reads it): focus stays on it.
  await state(page, 'line one', 'delivered');
  const owner = (await parley.api('POST', '/auth/link', { body: { code: parley.signinLink.split('#signin=')[1] } })).json.token;
  const conv = (await parley.api('GET', '/conversations', { token: owner })).json.conversations[0];
  await parley.api('POST', `/conversations/${conv.id}/read`, { token: owner, body: { seq: conv.last_seq } });
  await state(page, 'line one', 'read');
  assert.match(await focused(page), /^div\[You at .*line two, read\]$/s, 'focus stayed on the message');
  await page.keyboard.press('Shift+F10');
  await page.locator('parley-chat .menu[role=menu]').waitFor();
  assert.match(await focused(page), /^button/);
  await page.keyboard.press('Escape'); // closes the menu, not the chat
  assert.equal(await page.locator('parley-chat .menu').count(), 0);
  assert.ok(await W.panel(page).isVisible(), 'Esc in the menu keeps the chat open');
  // Esc closes the chat and gives focus back to the button.
  await W.textarea(page).focus();
  await page.keyboard.press('Escape');
  await eventually('the panel closes', async () => !(await W.panel(page).isVisible()));
  assert.match(await focused(page), /^button\[Open chat/);
  assert.equal(await W.launcher(page).getAttribute('aria-expanded'), 'false');
  // Space opens it again.
  await page.keyboard.press('Space');
  await eventually('it opens again', () => W.panel(page).isVisible());
});

test('on a 360 px phone: full screen, long-press for the message menu', async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await ctx.newPage();
  await page.goto(host.url);
  await W.launcher(page).tap();
  await W.textarea(page).waitFor({ state: 'visible' });
  await eventually('the open chat fills the phone', async () => {
    const box = await W.panel(page).boundingBox();
    return box.x <= 1 && box.y <= 1 && box.width >= 358 && box.height >= 738;
  });
  await say(page, 'from my phone');
  const bubble = W.bubble(page, 'from my phone');
  await state(page, 'from my phone', 'delivered');
  // Nothing sticks out sideways.
  const overflow = await page.locator('parley-chat').evaluate((el) => {
    const r = el.shadowRoot.querySelector('.panel');
    return [...r.querySelectorAll('*')].some((n) => n.getBoundingClientRect().right > innerWidth + 1);
  });
  assert.equal(overflow, false, 'no element wider than the screen');
  // Long-press opens the menu (touch pointer held 600 ms).
  const b = await bubble.boundingBox();
  await bubble.dispatchEvent('pointerdown', { pointerType: 'touch', clientX: b.x + 10, clientY: b.y + 10, bubbles: true });
  await page.waitForTimeout(650);
  await bubble.dispatchEvent('pointerup', { pointerType: 'touch', clientX: b.x + 10, clientY: b.y + 10, bubbles: true });
  await page.locator('parley-chat .menu [data-action="delete"]').tap();
  await page.locator('parley-chat .bubble', { hasText: 'Message deleted' }).waitFor();
  // The close button brings the launcher back.
  await page.locator('parley-chat button[aria-label="Close chat"]').tap();
  await W.launcher(page).waitFor({ state: 'visible' });
  await ctx.close();
});
