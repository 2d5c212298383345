// An automated accessibility audit (axe-core, WCAG 2 A and AA rules, which
// reach into the widget's open shadow root) of the widget open on a page,
// day and night, the full-page chat, and the console's sign-in, inbox and
// settings. The keyboard paths themselves are in keyboard.test.mjs.
import { test, before, after } from 'node:test';
import { Parley, hostPage, launchBrowser } from './lib/harness.mjs';
import { W, C, openWidget, say, state, openConversation } from './lib/ui.mjs';
import { audit } from './lib/a11y.mjs';

let parley, host, browser, session;
before(async () => {
  parley = await Parley.start();
  host = await hostPage(parley, { css: 'body { font: 16px system-ui; }', content: '<main><h1>Acme</h1><p>A page.</p></main>' });
  browser = await launchBrowser();
  const r = await parley.api('POST', '/auth/link', { body: { code: parley.signinLink.split('#signin=')[1] } });
  const pw = await parley.api('PUT', '/auth/password', { token: r.json.token, body: { login: 'owner@acme.example', password: 'correct horse battery' } });
  session = pw.json;
});
after(async () => {
  await browser?.close();
  await host?.close();
  await parley?.close();
});

test('widget: closed, open by day and by night, with a conversation', async () => {
  for (const scheme of ['light', 'dark']) {
    const ctx = await browser.newContext({ colorScheme: scheme });
    const page = await ctx.newPage();
    await page.goto(host.url);
    await W.launcher(page).waitFor();
    await audit(page, `the closed widget (${scheme})`, ['parley-chat']);
    await openWidget(page);
    await say(page, 'Checking accessibility https://acme.example/help');
    await state(page, 'Checking accessibility', 'delivered');
    await page.waitForTimeout(300); // the panel's entrance animation
    await audit(page, `the open widget (${scheme})`, ['parley-chat']);
    await ctx.close();
  }
});

test('full-page chat', async () => {
  const page = await (await browser.newContext({ bypassCSP: true })).newPage();
  await page.goto(`${parley.url}/chat/${parley.address}`);
  await say(page, 'Hello from the chat page');
  await state(page, 'Hello from the chat page', 'delivered');
  await page.waitForTimeout(300);
  await audit(page, 'the chat page');
});

test('console: sign-in, inbox with a conversation, settings', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto(parley.url + '/console/');
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await audit(page, 'the sign-in page');
  await page.evaluate((s) => localStorage.setItem('parley.console.session', s), JSON.stringify(session));
  await page.reload();
  await C.list(page).waitFor();
  await openConversation(page);
  await page.waitForTimeout(400);
  await audit(page, 'the console with a conversation open');
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator('[data-field="address"]').waitFor();
  await page.waitForTimeout(400);
  await audit(page, 'the settings');
  await ctx.close();
});
