// The day/night theme follows the visitor's system's dark mode (or, with
// theme="time", their local time) and their own choice; and screenshots of the widget (desktop and a
// 360 px phone, day and night), the full-page chat, the console and a
// call, kept in
// test/browser/screenshots (`make screenshots` copies them to docs/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Parley, hostPage, launchBrowser, ensureShotsDir, collectErrors } from './lib/harness.mjs';
import { W, C, openWidget, say, rowOf, picture, eventually, state, openConversation } from './lib/ui.mjs';

let parley, host, browser, owner, ownerSession, shots;
before(async () => {
  parley = await Parley.start();
  host = await hostPage(parley, { css: DEMO_CSS, content: DEMO_BODY });
  browser = await launchBrowser();
  shots = ensureShotsDir();
  const r = await parley.api('POST', '/auth/link', { body: { code: parley.signinLink.split('#signin=')[1] } });
  assert.equal(r.status, 200, r.text);
  owner = r.json.token;
  const pw = await parley.api('PUT', '/auth/password', { token: owner, body: { login: 'owner@acme.example', password: 'correct horse battery' } });
  assert.equal(pw.status, 200, pw.text);
  ownerSession = pw.json;
  await parley.api('PATCH', '/inbox/settings', { token: owner, body: { name: 'Acme Outdoor', welcome: 'Hi there! Ask us anything about sizes, orders or delivery.' } });
});
after(async () => {
  await browser?.close();
  await host?.close();
  await parley?.close();
});

// at returns today at hour:00 UTC (the contexts below run in UTC).
// at is the last time it was hour:00 UTC (today or yesterday): a clock
// set ahead of the server's would take the owner's token for expired.
function at(hour) {
  const d = new Date();
  d.setUTCHours(hour, 0, 0, 0);
  if (d > Date.now()) d.setUTCDate(d.getUTCDate() - 1);
  return d;
}

async function context(opts, hour) {
  const ctx = await browser.newContext({ timezoneId: 'UTC', ...opts });
  await ctx.clock.setFixedTime(at(hour));
  return ctx;
}

const themeOf = (page) => page.locator('parley-chat .root').evaluate((el) => (el.classList.contains('pl-night') ? 'night' : el.classList.contains('pl-day') ? 'day' : '?'));

test('day and night by dark mode (or, with theme="time", local time) and the toggle', async () => {
  // By default the system's light or dark mode decides, whatever the hour:
  // a night widget on a light page in light mode looked broken.
  for (const [hour, scheme, want] of [[10, 'light', 'day'], [22, 'light', 'day'], [5, 'light', 'day'], [10, 'dark', 'night'], [22, 'dark', 'night']]) {
    const ctx = await context({ colorScheme: scheme }, hour);
    const page = await ctx.newPage();
    await page.goto(host.url);
    await W.launcher(page).waitFor();
    assert.equal(await themeOf(page), want, `${hour}:00 with ${scheme} scheme`);
    await ctx.close();
  }
  // data-theme="time": night from 19:00 to 7:00 local time, or in dark mode.
  const timed = await hostPage(parley, { css: DEMO_CSS, content: DEMO_BODY, extraAttrs: 'data-theme="time"' });
  try {
    for (const [hour, scheme, want] of [[10, 'light', 'day'], [22, 'light', 'night'], [5, 'light', 'night'], [10, 'dark', 'night']]) {
      const ctx = await context({ colorScheme: scheme }, hour);
      const page = await ctx.newPage();
      await page.goto(timed.url);
      await W.launcher(page).waitFor();
      assert.equal(await themeOf(page), want, `theme=time, ${hour}:00 with ${scheme} scheme`);
      await ctx.close();
    }
  } finally {
    await timed.close();
  }
  // The full-page chat and the console follow the system too.
  for (const [path, scheme, want] of [[`/chat/${parley.address}`, 'light', 'day'], [`/chat/${parley.address}`, 'dark', 'night'], ['/console/', 'light', 'day'], ['/console/', 'dark', 'night']]) {
    const ctx = await context({ colorScheme: scheme }, 22);
    const page = await ctx.newPage();
    await page.goto(parley.url + path);
    const theme = path === '/console/'
      ? () => page.evaluate(() => (document.documentElement.classList.contains('pl-night') ? 'night' : document.documentElement.classList.contains('pl-day') ? 'day' : '?'))
      : () => themeOf(page);
    await eventually(`${path} at 22:00 in ${scheme} mode is ${want}`, async () => (await theme()) === want);
    await ctx.close();
  }
  // The visitor's own choice wins, and is remembered.
  const ctx = await context({ colorScheme: 'light' }, 10);
  const page = await ctx.newPage();
  await page.goto(host.url);
  await openWidget(page);
  await page.locator('parley-chat button[aria-label="Switch to the night theme"]').click();
  assert.equal(await themeOf(page), 'night');
  await page.reload();
  await W.launcher(page).waitFor();
  assert.equal(await themeOf(page), 'night', 'the choice survives a reload');
  await ctx.close();
});

// conversation fills a visitor's chat with a realistic exchange.
async function conversation(page) {
  await openWidget(page);
  await say(page, 'Hi! Is the Alpine jacket available in size M?');
  const convId = await eventually('the conversation exists', async () => {
    const r = await parley.api('GET', '/conversations', { token: owner });
    return r.json.conversations.find((c) => c.last_message?.text?.includes('Alpine jacket') && c.last_seq === 1)?.id;
  });
  await state(page, 'Alpine jacket', 'delivered');
  // The agent answers over the REST API (the console is shot separately).
  const send = (text) => parley.api('POST', `/conversations/${convId}/messages`, { token: owner, body: { text } });
  const cid = (await parley.api('GET', `/conversations/${convId}`, { token: owner })).json;
  await parley.api('POST', `/conversations/${convId}/read`, { token: owner, body: { seq: cid.last_seq } });
  await send('Hello! Yes, we have three left in M, in blue and in black.');
  await W.bubble(page, 'three left in M').waitFor();
  await W.fileInput(page).setInputFiles({ name: 'jacket.png', mimeType: 'image/png', buffer: picture(480, 320) });
  await eventually('the photo is sent', async () => (await page.locator('parley-chat .bubble img[alt="jacket.png"]').count()) === 1 && !(await page.locator('parley-chat [role=progressbar]').count()));
  await say(page, 'Like this one? 😊 Could you reserve the blue one for me?');
  await state(page, 'reserve the blue', 'delivered');
  const last = (await parley.api('GET', `/conversations/${convId}`, { token: owner })).json.last_seq;
  await parley.api('POST', `/conversations/${convId}/read`, { token: owner, body: { seq: last } });
  await state(page, 'reserve the blue', 'read');
  await parley.api('POST', `/conversations/${convId}/typing`, { token: owner, body: { is_typing: true } });
  await W.status(page).filter({ hasText: 'typing' }).waitFor();
  return convId;
}

test('widget screenshots: desktop and phone, day and night', async () => {
  for (const [name, opts, hour] of [
    ['widget-desktop-day', { viewport: { width: 1280, height: 800 }, colorScheme: 'light' }, 11],
    ['widget-desktop-night', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' }, 21],
    ['widget-phone-day', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, colorScheme: 'light' }, 11],
    ['widget-phone-night', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, colorScheme: 'dark' }, 21],
  ]) {
    const ctx = await context(opts, hour);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await page.goto(host.url);
    await conversation(page);
    await page.waitForTimeout(400); // the panel's entrance animation
    await page.screenshot({ path: join(shots, name + '.png') });
    assert.deepEqual(errors, []);
    await ctx.close();
  }
  // The closed widget on a phone: just the button.
  const ctx = await context({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, 11);
  const page = await ctx.newPage();
  await page.goto(host.url);
  await W.launcher(page).waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'widget-phone-closed.png') });
  await ctx.close();
});

test('full-page chat screenshot', async () => {
  const ctx = await context({ viewport: { width: 1280, height: 800 } }, 11);
  const page = await ctx.newPage();
  await page.goto(`${parley.url}/chat/${parley.address}`);
  await say(page, 'Do you deliver on Saturdays?');
  await state(page, 'Saturdays', 'delivered');
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'chat-page.png') });
  await ctx.close();
});

test('landing page screenshot', async () => {
  const ctx = await context({ viewport: { width: 1280, height: 800 } }, 11);
  const page = await ctx.newPage();
  await page.goto(parley.url + '/');
  await W.launcher(page).waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'landing.png') });
  await ctx.close();
});

// On a 390 px phone nothing on the landing page covers anything else: the
// Copy button sits beside or below the snippet, not on it, and the chat
// button in the corner leaves the chat link (and the rest) uncovered.
test('landing page on a phone: nothing covered', async () => {
  const ctx = await context({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }, 11);
  const page = await ctx.newPage();
  await page.goto(parley.url + '/');
  await W.launcher(page).waitFor();
  await page.waitForTimeout(300);
  const overlap = (a, b) => a && b && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const code = await page.locator('#snippet code').boundingBox();
  const copy = await page.locator('#copy').boundingBox();
  assert.ok(!overlap(code, copy), `the Copy button covers the snippet: ${JSON.stringify({ code, copy })}`);
  // The chat button covers no link or button, at the first view and at
  // the end of the page.
  const covered = () => page.evaluate(() => {
    const l = document.querySelector('parley-chat').shadowRoot.querySelector('.launcher').getBoundingClientRect();
    return [...document.querySelectorAll('a, button')].filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width && r.x < l.right && l.x < r.right && r.y < l.bottom && l.y < r.bottom;
    }).map((el) => el.textContent.trim());
  });
  assert.deepEqual(await covered(), [], 'at the first view');
  await page.screenshot({ path: join(shots, 'landing-phone-top.png') });
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await page.waitForTimeout(200);
  assert.deepEqual(await covered(), [], 'at the end of the page');
  await page.screenshot({ path: join(shots, 'landing-phone.png'), fullPage: true });
  await ctx.close();
});

// visitors seeds the inbox with a few conversations from different places.
async function visitors() {
  const people = [
    { page: 'https://acme.example/jackets/alpine', title: 'The Alpine jacket', tz: 'Europe/Sofia', locale: 'bg-BG',
      ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      says: ['Hello! Does the Alpine jacket run true to size?', 'I am usually an M in other brands.'] },
    { page: 'https://acme.example/checkout', title: 'Checkout', tz: 'America/New_York', locale: 'en-US',
      ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      says: ['Can I still change my delivery address? Order #4471'] },
    { page: 'https://acme.example/boots/summit', title: 'Summit boots', tz: 'Asia/Tokyo', locale: 'ja-JP',
      ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      says: ['Do you ship to Japan?'] },
  ];
  const convs = [];
  for (const p of people) {
    const s = (await parley.api('POST', `/widget/${parley.address}/session`, { headers: { 'User-Agent': p.ua },
      body: { page_url: p.page, page_title: p.title, timezone: p.tz, locale: p.locale } })).json;
    const conv = (await parley.api('POST', '/inbox', { token: s.token })).json;
    for (const text of p.says) await parley.api('POST', `/conversations/${conv.id}/messages`, { token: s.token, body: { text } });
    convs.push(conv.id);
  }
  return convs;
}

test('console screenshots: desktop and phone, day and night', async () => {
  const convs = await visitors();
  // The first visitor's conversation gets an answer and a photo.
  await parley.api('POST', `/conversations/${convs[0]}/messages`, { token: owner, body: { text: 'Hi! It runs slightly large: an M fits like an L elsewhere. I would pick S.' } });
  for (const [name, opts, hour] of [
    ['console-desktop-day', { viewport: { width: 1280, height: 800 }, colorScheme: 'light' }, 11],
    ['console-desktop-night', { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' }, 21],
    ['console-phone-day', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, colorScheme: 'light' }, 11],
  ]) {
    const ctx = await context(opts, hour);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await page.goto(parley.url + '/console/');
    if (!(await C.list(page).isVisible().catch(() => false))) {
      if (await page.getByLabel('Confirm password').isVisible().catch(() => false)) throw new Error('unexpected set-password step');
      await page.evaluate((tok) => localStorage.setItem('parley.console.session', tok), JSON.stringify(ownerSession));
      await page.reload();
    }
    await C.list(page).waitFor();
    await C.item(page, convs[0]).waitFor();
    if (name.includes('phone')) {
      await page.waitForTimeout(400);
      await page.screenshot({ path: join(shots, name.replace('day', 'list') + '.png') });
    }
    await openConversation(page, convs[0]);
    await page.locator('main .bubble', { hasText: 'I would pick S' }).waitFor();
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(shots, name + '.png') });
    assert.deepEqual(errors, []);
    await ctx.close();
  }
  // Settings, on the desktop.
  const ctx = await context({ viewport: { width: 1280, height: 800 } }, 11);
  const page = await ctx.newPage();
  await page.goto(parley.url + '/console/');
  await page.evaluate((tok) => localStorage.setItem('parley.console.session', tok), JSON.stringify(ownerSession));
  await page.reload();
  await C.list(page).waitFor();
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator('[data-field="address"]').waitFor();
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(shots, 'console-settings.png') });
  await ctx.close();
  // The sign-in page.
  const c2 = await context({ viewport: { width: 1280, height: 800 } }, 11);
  const p2 = await c2.newPage();
  await p2.goto(parley.url + '/console/');
  await p2.getByRole('button', { name: 'Sign in' }).waitFor();
  await p2.waitForTimeout(300);
  await p2.screenshot({ path: join(shots, 'console-signin.png') });
  await c2.close();
});

test('call screenshots: the console ringing, a video call with its statistics, and the widget', async () => {
  // Real clocks here: WebRTC and the call timer need time to pass.
  const opts = { viewport: { width: 1280, height: 800 }, timezoneId: 'UTC', colorScheme: 'light', permissions: ['camera', 'microphone'] };
  const agentCtx = await browser.newContext(opts);
  const agent = await agentCtx.newPage();
  await agent.goto(parley.url + '/console/');
  await agent.evaluate((tok) => localStorage.setItem('parley.console.session', tok), JSON.stringify(ownerSession));
  await agent.reload();
  await C.list(agent).waitFor();
  const visitorCtx = await browser.newContext(opts);
  const visitor = await visitorCtx.newPage();
  const agentErrors = collectErrors(agent);
  const visitorErrors = collectErrors(visitor);
  await visitor.goto(host.url);
  await openWidget(visitor);
  await say(visitor, 'Could you show me how the hood folds away? A quick video call?');
  await W.panel(visitor).locator('button[aria-label="Start a video call"]').click();
  await agent.locator('.call-screen[data-state="ringing"]').waitFor();
  await agent.waitForTimeout(700); // the ring's entrance animation
  await agent.screenshot({ path: join(shots, 'call-console-ringing.png') });
  await agent.locator('.call-screen button[aria-label="Accept"]').click();
  for (const p of [agent, visitor]) await p.locator('.call-screen[data-state="active"]').waitFor({ timeout: 20000 });
  await agent.locator('.call-screen button[aria-label="Show call statistics"]').click();
  await eventually('statistics are in', async () => /\d/.test(await agent.locator('.call-stats [data-stat="frames"]').textContent()));
  await agent.waitForTimeout(3000);
  await agent.screenshot({ path: join(shots, 'call-console-video.png') });
  await visitor.screenshot({ path: join(shots, 'call-widget-video.png') });
  await visitor.locator('parley-chat .call-screen button[aria-label="Hang up"]').click();
  await agent.locator('.call-screen[data-state="ended"]').waitFor();
  assert.deepEqual([...agentErrors, ...visitorErrors], []);
  await agentCtx.close();
  await visitorCtx.close();
});

// A plausible shop page for the widget to sit on.
const DEMO_CSS = `body { margin: 0; font: 16px/1.5 Georgia, serif; color: #1f2937; background: #f5f1ea; }
header { background: #1f3a2e; color: #f5f1ea; padding: 18px 40px; font: 700 22px/1 system-ui, sans-serif; letter-spacing: .04em; }
.hero { display: grid; grid-template-columns: 1.2fr 1fr; gap: 40px; padding: 56px 40px; max-width: 1100px; }
.hero h1 { font-size: 46px; line-height: 1.05; margin: 0 0 16px; }
.card { background: linear-gradient(135deg, #9fb8a6, #3f6b57); border-radius: 18px; min-height: 320px; }
.btn { display: inline-block; background: #c2410c; color: #fff; padding: 12px 22px; border-radius: 999px; font: 600 15px system-ui, sans-serif; }
@media (max-width: 600px) { .hero { grid-template-columns: 1fr; padding: 28px 20px; } .hero h1 { font-size: 32px; } }`;
const DEMO_BODY = `<header>ACME OUTDOOR</header><section class="hero"><div><h1>The Alpine jacket</h1>
<p>Waterproof, breathable and light enough to forget you packed it. Free returns within 60 days.</p><p><span class="btn">Add to cart — €189</span></p></div>
<div class="card" role="img" aria-label="Jacket"></div></section>`;
