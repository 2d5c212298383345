// Regenerating the inbox address stops the old link and every widget using
// it at once, with the documented message; attempts per IP are limited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, Parley, hostPage } from './lib/harness.mjs';
import { W, openWidget, say, signInWithLink, eventually, state } from './lib/ui.mjs';

const MESSAGE = /This chat address is no longer valid/;
let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup({ args: ['--address-attempts-per-minute', '30'] })));
after(() => teardown({ parley, host, browser }));

test('a regenerated address stops the old link and its widgets', async () => {
  const owner = await (await browser.newContext()).newPage();
  const visitorCtx = await browser.newContext();
  const visitor = await visitorCtx.newPage();
  await signInWithLink(owner, parley);

  // A visitor chatting through the widget with the current address.
  await visitor.goto(host.url);
  await openWidget(visitor);
  await say(visitor, 'hello before the change');
  await W.bubble(visitor, 'hello before the change').waitFor();
  const old = parley.address;

  // The owner regenerates the address in the console's settings.
  await owner.getByRole('button', { name: 'Settings' }).click();
  const addr = owner.locator('[data-field="address"]');
  await eventually('settings show the address', async () => (await addr.textContent()).trim() === old);
  await owner.getByRole('button', { name: 'Regenerate address' }).click();
  await owner.getByRole('button', { name: 'Regenerate', exact: true }).click();
  await eventually('a new address', async () => /^[A-Za-z0-9]{8}$/.test((await addr.textContent()).trim()) && (await addr.textContent()).trim() !== old);
  const fresh = (await addr.textContent()).trim();
  assert.match(await owner.locator('[data-field="snippet"]').textContent(), new RegExp(`data-address="${fresh}"`));

  // The open widget says so at once, and stops.
  await visitor.locator('parley-chat .gone[role="alert"]', { hasText: MESSAGE }).waitFor();
  assert.equal(await W.textarea(visitor).count(), 0, 'no composer on a dead address');
  // So does the old link, and the widget on a fresh page load.
  const page = await visitorCtx.newPage();
  const res = await page.goto(`${parley.url}/chat/${old}`);
  assert.equal(res.status(), 404);
  assert.match(await page.locator('#message').textContent(), MESSAGE);
  await page.goto(host.url + '/again');
  await W.launcher(page).click();
  await page.locator('parley-chat .gone', { hasText: MESSAGE }).waitFor();
  // The API says it with a stable code.
  const api = await parley.api('GET', `/widget/${old}`);
  assert.equal(api.status, 404);
  assert.equal(api.json.error.code, 'address_invalid');

  // The new address works, for a new visitor on the full-page chat.
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${parley.url}/chat/${fresh}`);
  await say(other, 'hello through the new link');
  await state(other, 'hello through the new link', 'delivered');
});

test('too many attempts from one IP are refused', async () => {
  // A server of its own with a budget of 3 lookups a minute: one token
  // comes back every 20 s, so the refusals below are certain.
  const strict = await Parley.start(['--address-attempts-per-minute', '3']);
  try {
    const page = await (await browser.newContext()).newPage();
    assert.equal((await strict.api('GET', `/widget/Zz9Yy8Xx`)).status, 404, 'a wrong guess costs a lookup too');
    assert.equal((await strict.api('GET', `/widget/${strict.address}`)).status, 200);
    assert.equal((await strict.api('GET', `/widget/${strict.address}`)).status, 200);
    const last = await strict.api('GET', `/widget/${strict.address}`);
    assert.equal(last.status, 429);
    assert.equal(last.json.error.code, 'rate_limited');
    assert.ok(Number(last.headers.get('retry-after')) >= 1, 'Retry-After');
    const s = await strict.api('POST', `/widget/${strict.address}/session`, { body: {} });
    assert.equal(s.status, 429, 'sessions share the budget');
    const res = await page.goto(`${strict.url}/chat/${strict.address}`);
    assert.equal(res.status(), 429, 'so do chat pages');
    assert.match(await page.locator('#message').textContent(), /Too many/);
    // The widget says so instead of failing silently.
    const host2 = await hostPage(strict, { css: '' });
    const w = await (await browser.newContext()).newPage();
    await w.goto(host2.url);
    await W.launcher(w).click();
    await w.locator('parley-chat .banner', { hasText: 'Too many attempts' }).waitFor();
    await host2.close();
  } finally {
    await strict.close();
  }
});
