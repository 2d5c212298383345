// The visitor's conversation survives reloads; a server killed mid-
// conversation loses nothing it acknowledged, and what the visitor typed
// while it was down is queued (even across a reload) and delivered once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, collectErrors } from './lib/harness.mjs';
import { W, C, openWidget, say, rowOf, signInWithLink, openConversation, consoleToken, eventually, state } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup({ host: { css: 'body { font-family: serif; }' } })));
after(() => teardown({ parley, host, browser }));

// Connection errors while the server is down are expected.
const OFFLINE = [/ERR_CONNECTION_REFUSED/, /WebSocket connection/, /Failed to load resource/];

test('reloads, a killed server and the offline queue', async () => {
  const agentCtx = await browser.newContext();
  const visitorCtx = await browser.newContext();
  const agent = await agentCtx.newPage();
  const visitor = await visitorCtx.newPage();
  const errors = collectErrors(visitor, OFFLINE);
  await signInWithLink(agent, parley);

  await visitor.goto(host.url + '/a');
  await openWidget(visitor);
  await say(visitor, 'first, before anything');
  await openConversation(agent);
  const convId = await C.items(agent).first().getAttribute('data-conversation');
  await agent.locator('main .bubble', { hasText: 'first, before anything' }).waitFor();
  await say(agent, 'reply one', 'main');
  await W.bubble(visitor, 'reply one').waitFor();

  // A reload, and navigation to another page: the same conversation.
  await visitor.goto(host.url + '/b');
  await openWidget(visitor);
  await W.bubble(visitor, 'first, before anything').waitFor();
  await W.bubble(visitor, 'reply one').waitFor();

  // The server dies mid-conversation.
  await say(visitor, 'acknowledged before the crash');
  await state(visitor, 'acknowledged before the crash', 'delivered');
  await parley.kill();
  await eventually('the widget notices it is offline', async () => (await W.banner(visitor).isVisible()) && /offline|Reconnecting/i.test(await W.banner(visitor).textContent()));

  // Typed while offline: queued, shown as sending, and said so.
  await say(visitor, 'typed offline 1');
  await say(visitor, 'typed offline 2');
  await state(visitor, 'typed offline 2', 'sending');
  await eventually('the banner counts the queue', async () => /2 messages will be sent/.test(await W.banner(visitor).textContent()));

  // Back up on the same port and data. The visitor reloads at once: the
  // queue is sent by whichever page gets there first (the old one as it
  // reconnects, or the new one from localStorage), and never twice.
  await parley.restart();
  await visitor.reload();
  await openWidget(visitor);
  for (const t of ['typed offline 1', 'typed offline 2']) {
    await state(visitor, t, 'delivered', { timeout: 20000 });
  }
  // And without a reload: typed offline, delivered when the server is back.
  await parley.kill();
  await eventually('offline again', async () => (await W.banner(visitor).isVisible()));
  await say(visitor, 'typed offline 3');
  await state(visitor, 'typed offline 3', 'sending');
  await parley.restart();
  await state(visitor, 'typed offline 3', 'delivered', { timeout: 40000 });
  await eventually('the banner goes', async () => !(await W.banner(visitor).isVisible()));
  await agent.reload();
  await C.list(agent).waitFor();
  await openConversation(agent, convId);
  for (const t of ['first, before anything', 'acknowledged before the crash', 'typed offline 1', 'typed offline 2', 'typed offline 3']) {
    await agent.locator('main .bubble', { hasText: t }).waitFor({ timeout: 20000 });
  }

  // Exactly once each, in the order typed, in the server's history.
  const token = await consoleToken(agent);
  const r = await parley.api('GET', `/conversations/${convId}/messages?limit=100`, { token });
  assert.equal(r.status, 200, r.text);
  const texts = r.json.messages.map((m) => m.text);
  for (const t of ['first, before anything', 'reply one', 'acknowledged before the crash', 'typed offline 1', 'typed offline 2', 'typed offline 3']) {
    assert.equal(texts.filter((x) => x === t).length, 1, `"${t}" stored ${texts.filter((x) => x === t).length} times: ${JSON.stringify(texts)}`);
  }
  assert.ok(texts.indexOf('typed offline 1') < texts.indexOf('typed offline 2') && texts.indexOf('typed offline 2') < texts.indexOf('typed offline 3'), 'queue order kept');
  const seqs = r.json.messages.map((m) => m.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'no gaps or duplicates in seq');
  assert.deepEqual(errors, []);
  await agentCtx.close();
  await visitorCtx.close();
});

test('a message sent at the moment the server dies is stored once', async () => {
  await parley.ensureUp();
  const ctx = await browser.newContext();
  const visitor = await ctx.newPage();
  await visitor.goto(host.url + '/race');
  await openWidget(visitor);
  await say(visitor, 'warm up');
  await state(visitor, 'warm up', 'delivered');
  // Kill right after pressing Enter: the message may or may not have been
  // committed; either way the resend after restart must not duplicate it.
  await say(visitor, 'sent as the server died');
  await parley.kill();
  await parley.restart();
  await state(visitor, 'sent as the server died', 'delivered', { timeout: 30000 });
  const session = await visitor.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('parley.visitor:'));
    return JSON.parse(localStorage.getItem(key));
  });
  const s = await parley.api('POST', `/widget/${parley.address}/session`, { body: { visitor: session } });
  const h = await parley.api('GET', `/conversations/${s.json.conversation_id}/messages?limit=100`, { token: s.json.token });
  const n = h.json.messages.filter((m) => m.text === 'sent as the server died').length;
  assert.equal(n, 1, `stored ${n} times`);
  await ctx.close();
});
