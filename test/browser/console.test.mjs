// The agent console: sign-in by link, password and invitation; the inbox
// live; visitor details; settings that reach open widgets; notifications;
// and that it installs as an app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, hostPage, collectErrors, siteToken } from './lib/harness.mjs';
import { W, C, openWidget, say, signInWithLink, openConversation, state, eventually } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup({ host: { css: '' } })));
after(() => teardown({ parley, host, browser }));

test('sign in with the first-start link, then with a password', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = collectErrors(page, [/401/, /Failed to load resource/]);
  const { login, password } = await signInWithLink(page, parley, 'Owner@Acme.example', 'correct horse battery');
  assert.ok(!page.url().includes('signin='), 'the one-time code is gone from the address bar');
  // The link works once.
  const other = await (await browser.newContext()).newPage();
  await other.goto(parley.signinLink);
  await other.getByText(/already used or has expired/).waitFor();
  // Sign out, then back in with the login chosen.
  await page.getByRole('button', { name: /Sign out/ }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Login', { exact: true }).fill(login);
  await page.getByLabel('Password', { exact: true }).fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(/do not match/).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await C.list(page).waitFor();
  // A reload keeps the session.
  await page.reload();
  await C.list(page).waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('an invited agent joins and answers; details and settings live', async () => {
  const ownerCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const owner = await ownerCtx.newPage();
  await owner.goto(parley.url + '/console/');
  if (!(await C.list(owner).isVisible().catch(() => false))) {
    await owner.getByLabel('Login', { exact: true }).fill('owner@acme.example');
    await owner.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await owner.getByRole('button', { name: 'Sign in' }).click();
  }
  await C.list(owner).waitFor();

  // A visitor writes from a product page.
  const visitorCtx = await browser.newContext({ timezoneId: 'Asia/Tokyo', locale: 'ja-JP' });
  const visitor = await visitorCtx.newPage();
  await visitor.goto(host.url + '/products/alpine-jacket');
  await openWidget(visitor);
  await say(visitor, 'Is this waterproof?');
  const item = C.items(owner).first();
  await item.waitFor();
  const convId = await item.getAttribute('data-conversation');

  // Where the visitor is, for the owner; live when they move on.
  await openConversation(owner, convId);
  const details = owner.locator('aside[aria-label="Visitor details"]');
  await details.locator('[data-field="page_url"]', { hasText: '/products/alpine-jacket' }).waitFor();
  assert.match(await details.locator('[data-field="browser"]').textContent(), /Chrome \d+ on Linux/);
  assert.match(await details.locator('[data-field="local_time"]').textContent(), /UTC\+9/);
  await visitor.goto(host.url + '/checkout');
  await details.locator('[data-field="page_url"]', { hasText: '/checkout' }).waitFor();

  // The owner invites an agent.
  await owner.getByRole('button', { name: 'Settings' }).click();
  await owner.getByRole('button', { name: 'Invite an agent' }).click();
  const url = (await owner.locator('[data-field="invite-url"]').first().textContent()).trim();
  assert.match(url, /\/console\/#invite=/);
  const agentCtx = await browser.newContext();
  const agent = await agentCtx.newPage();
  await agent.goto(url);
  await agent.getByLabel('Your name').fill('Bea');
  await agent.getByLabel('Login', { exact: true }).fill('bea@acme.example');
  await agent.getByLabel('Password', { exact: true }).fill('bea password 1');
  await agent.getByRole('button', { name: 'Join' }).click();
  await C.list(agent).waitFor();
  await openConversation(agent, convId);
  await agent.locator('main .bubble', { hasText: 'Is this waterproof?' }).waitFor();
  await say(agent, 'Yes, fully taped seams.', 'main');
  await openWidget(visitor);
  await W.bubble(visitor, 'fully taped seams').waitFor();
  // The owner sees the agent's answer, by name.
  await owner.locator('main .bubble', { hasText: 'fully taped seams' }).waitFor().catch(async () => {
    await owner.keyboard.press('Escape');
    await openConversation(owner, convId);
    await owner.locator('main .bubble', { hasText: 'fully taped seams' }).waitFor();
  });

  // Settings: a new colour and welcome reach the open widget at once.
  await owner.keyboard.press('Escape');
  await owner.getByRole('button', { name: 'Settings' }).click();
  await owner.getByLabel('Welcome message').fill('Welcome to Acme! Ask us anything.');
  await owner.getByLabel('Widget colour').fill('#0f766e');
  await owner.getByRole('radio', { name: 'Left' }).check();
  await owner.getByRole('button', { name: 'Save' }).click();
  await eventually('the widget takes the colour', async () =>
    (await visitor.locator('parley-chat .root').evaluate((el) => el.style.getPropertyValue('--accent'))) === '#0f766e');
  await W.bubble(visitor, 'Welcome to Acme!').waitFor();
  await eventually('the widget moves left', async () => (await visitor.locator('parley-chat').getAttribute('data-position')) === 'left');
  // Agents may read the settings but not change them.
  await agent.getByRole('button', { name: 'Settings' }).click();
  assert.ok(await agent.getByLabel('Welcome message').isDisabled() || (await agent.getByRole('button', { name: 'Save' }).count()) === 0, 'agents cannot edit settings');
  for (const c of [ownerCtx, agentCtx, visitorCtx]) await c.close();
});

test('notifications for new visitor messages, and it installs as an app', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.grantPermissions(['notifications'], { origin: parley.url });
  const page = await ctx.newPage();
  await page.goto(parley.url + '/console/');
  if (!(await C.list(page).isVisible().catch(() => false))) {
    await page.getByLabel('Login', { exact: true }).fill('owner@acme.example');
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await C.list(page).waitFor();
  await eventually('the service worker is active', () => page.evaluate(async () => !!(await navigator.serviceWorker.ready).active));
  // Permission is granted (as after the bell's first click): notifications are on.

  // A new visitor writes while the console shows another conversation (or none).
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(host.url + '/new');
  await openWidget(visitor);
  await say(visitor, 'Ping from a new visitor');
  await state(visitor, 'Ping from a new visitor', 'delivered');
  const notes = await eventually('a notification is shown', () => page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    const ns = await reg.getNotifications();
    return ns.length ? ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag })) : null;
  }));
  assert.ok(notes.some((n) => /Ping from a new visitor/.test(n.body)), JSON.stringify(notes));
  await eventually('the title counts unread messages', async () => /\(\d+\)/.test(await page.title()));

  // A Web Push message (what the server sends while the console is closed)
  // becomes a notification through the service worker. The browser's own
  // push service cannot be reached from here, so the push is handed to the
  // worker through the DevTools protocol, as the push service would.
  const cdp = await ctx.newCDPSession(page);
  const regs = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    const r = e.registrations.find((x) => x.scopeURL === parley.url + '/console/' && !x.isDeleted);
    if (r) resolve(r);
  }));
  await cdp.send('ServiceWorker.enable');
  const reg = await regs;
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: parley.url, registrationId: reg.registrationId,
    data: JSON.stringify({ title: 'Visitor PUSH', body: 'Sent while you were away', conversation_id: 'cnv_pushed', url: '/console/#c=cnv_pushed' }) });
  const pushed = await eventually('the push becomes a notification', () => page.evaluate(async () => {
    const ns = await (await navigator.serviceWorker.ready).getNotifications({ tag: 'cnv_pushed' });
    return ns.length ? { title: ns[0].title, body: ns[0].body, data: ns[0].data } : null;
  }));
  assert.deepEqual(pushed, { title: 'Visitor PUSH', body: 'Sent while you were away', data: { conversation_id: 'cnv_pushed', url: '/console/#c=cnv_pushed' } });

  // The app: a manifest with icons, served PNGs of the right size, a worker in control.
  const m = await (await fetch(parley.url + '/console/manifest.webmanifest')).json();
  assert.equal(m.display, 'standalone');
  assert.equal(m.start_url, '/console/');
  for (const size of ['192x192', '512x512']) {
    const icon = m.icons.find((i) => i.sizes === size);
    assert.ok(icon, `an icon of ${size}`);
    const buf = Buffer.from(await (await fetch(new URL(icon.src, parley.url))).arrayBuffer());
    assert.equal(buf.subarray(1, 4).toString(), 'PNG');
    assert.equal(`${buf.readUInt32BE(16)}x${buf.readUInt32BE(20)}`, size);
  }
  await page.reload();
  await eventually('the worker controls the page', () => page.evaluate(() => !!navigator.serviceWorker.controller));
  // Installed and opened without a network: the worker serves the shell,
  // which says it is offline and keeps retrying.
  await ctx.setOffline(true);
  await page.reload();
  await C.list(page).waitFor();
  await page.getByText(/Offline|Connecting|Reconnecting/).first().waitFor();
  await ctx.setOffline(false);
  await page.getByText('Connected').first().waitFor({ timeout: 40000 });
  await ctx.close();
});

test('a customer the site identifies is the same visitor on every device', async () => {
  const token = siteToken(parley, 'customer-42', 'Jane Doe');
  const site = await hostPage(parley, { css: '', extraAttrs: `data-identity="${token}"` });
  try {
    const laptop = await (await browser.newContext()).newPage();
    await laptop.goto(site.url + '/account');
    await openWidget(laptop);
    await say(laptop, 'Hello from my laptop');
    await state(laptop, 'Hello from my laptop', 'delivered');
    // Another device (no shared storage): the same conversation.
    const phone = await (await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })).newPage();
    await phone.goto(site.url + '/account');
    await openWidget(phone);
    await W.bubble(phone, 'Hello from my laptop').waitFor();
    // The console knows who it is.
    const owner = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await owner.goto(parley.url + '/console/');
    await owner.getByLabel('Login', { exact: true }).fill('owner@acme.example');
    await owner.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await owner.getByRole('button', { name: 'Sign in' }).click();
    const item = owner.locator('nav[aria-label="Conversations"] button[data-conversation]', { hasText: 'Jane Doe' });
    await item.waitFor();
    await item.click();
    await owner.locator('aside[aria-label="Visitor details"]', { hasText: /Identified/i }).waitFor();
  } finally {
    await site.close();
  }
});
