import assert from 'node:assert/strict';
import { eventually } from './ui.mjs';

// Call parties for browser tests and the call benchmark: a bare page of
// the server with an SDK client, as a visitor of the inbox or as the owner.
// window.P holds the client, every call session seen (P.sessions) and, for
// a visitor, the conversation (P.conv).
export async function sdkParty(browser, parley, who, { token, relay = false } = {}) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(who, 'pageerror', e.message));
  await page.goto(parley.url + '/healthz');
  await page.evaluate(async ({ who, address, token, relay }) => {
    if (relay) localStorage.setItem('parley.ice', 'relay');
    const sdk = await import('/sdk/index.js');
    let client;
    if (who === 'visitor') {
      const session = sdk.visitorSession({ url: location.origin, address });
      await session.open();
      client = new sdk.Client({ url: location.origin, token: (o) => session.token(o), storageKey: 'v' });
    } else {
      client = new sdk.Client({ url: location.origin, token: async () => token, storageKey: 'o' });
    }
    window.P = { client, sessions: [] };
    client.calls.addEventListener('incoming', (e) => window.P.sessions.push(e.detail));
    client.calls.addEventListener('outgoing', (e) => window.P.sessions.push(e.detail));
    await new Promise((resolve) => {
      client.addEventListener('connected', resolve, { once: true });
      client.connect();
    });
    if (who === 'visitor') window.P.conv = (await client.openInbox()).id;
  }, { who, address: parley.address, token, relay });
  return page;
}

// ownerToken signs the owner in with the link parley printed at start.
export async function ownerToken(parley) {
  const r = await parley.api('POST', '/auth/link', { body: { code: parley.signinLink.split('#signin=')[1] } });
  return r.json.token;
}

// stats is the current call's getStats summary; state the call's state.
export const stats = (page) => page.evaluate(async () => window.P.client.calls.current?.stats());
export const state = (page) => page.evaluate(() => window.P.client.calls.current?.state || window.P.sessions.at(-1)?.state);

// flowing checks that each side decodes more and more video frames and receives audio.
export async function flowing(pages, what) {
  // Frames may start a moment after the call is active (a relayed path is
  // the last to be checked), later still on a busy machine.
  await eventually(`${what}: every side decodes video`, async () => (await Promise.all(pages.map(stats))).every((s) => s?.framesDecoded > 10), { timeout: 15000 });
  const first = await Promise.all(pages.map(stats));
  await new Promise((r) => setTimeout(r, 1500));
  const second = await Promise.all(pages.map(stats));
  for (let i = 0; i < pages.length; i++) {
    assert.ok(second[i].framesDecoded > first[i].framesDecoded && second[i].framesDecoded > 10, `${what}: side ${i} frames ${first[i].framesDecoded} → ${second[i].framesDecoded}`);
    assert.ok(second[i].audioPacketsReceived > first[i].audioPacketsReceived, `${what}: side ${i} audio packets ${first[i].audioPacketsReceived} → ${second[i].audioPacketsReceived}`);
  }
  return second;
}

// The call screen of the widget (who 'visitor') or the console (any other who).
// Scopes: the widget lives in a shadow root that CSS locators pierce.
export const screenOf = (page, who) => page.locator(who === 'visitor' ? 'parley-chat .call-screen' : '.call-screen');
export const button = (page, who, name) => screenOf(page, who).locator(`button[aria-label="${name}"]`);

// stat reads one number (or the route) from a side's statistics panel.
export async function stat(page, who, name) {
  const dd = screenOf(page, who).locator(`.call-stats [data-stat="${name}"]`);
  if (name === 'candidate') return dd.getAttribute('data-value');
  return Number((await dd.textContent()).replace(/\D/g, '')) || 0;
}

// grows waits until a side's panel shows a number go up by more than min.
export async function grows(page, who, name, min = 0) {
  const first = await stat(page, who, name);
  await eventually(`${who}'s ${name} grows from ${first}`, async () => (await stat(page, who, name)) > first + min, { timeout: 8000 });
}
