// The restore of docs/operations.md under a connected widget: messages the
// backup does not have leave the visitor's view, and every message sent
// after the restore reaches it, though its seq is one the widget had seen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, teardown, collectErrors } from './lib/harness.mjs';
import { W, openWidget, say, state, signInWithLink, consoleToken, openConversation, eventually } from './lib/ui.mjs';

let parley, host, browser, agent, token;
before(async () => {
  ({ parley, host, browser } = await setup());
  agent = await (await browser.newContext()).newPage(); // the console, signed in once
  await signInWithLink(agent, parley);
  token = await consoleToken(agent);
});
after(() => teardown({ parley, host, browser }));

// convWith finds the conversation whose last message is text.
async function convWith(text) {
  const r = await parley.api('GET', '/conversations', { token });
  const c = r.json.conversations.find((c) => c.last_message?.text === text);
  assert.ok(c, `no conversation ends with "${text}"`);
  return c.id;
}

// Connection errors while the server is down are expected.
const OFFLINE = [/ERR_CONNECTION_REFUSED/, /WebSocket connection/, /Failed to load resource/];
const DB_FILES = ['parley.db', 'parley.db-wal', 'parley.db-shm'];

// backupNow copies the database files with the server stopped (so they
// are consistent) and starts it again; restore puts them back the way
// docs/operations.md says.
async function backupNow() {
  const dir = mkdtempSync(join(tmpdir(), 'parley-backup-'));
  await parley.stop();
  for (const f of DB_FILES) if (existsSync(join(parley.dir, f))) copyFileSync(join(parley.dir, f), join(dir, f));
  await parley.ensureUp();
  return dir;
}

async function restore(dir) {
  await parley.stop();
  for (const f of DB_FILES) {
    rmSync(join(parley.dir, f), { force: true });
    if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(parley.dir, f));
  }
  await parley.ensureUp();
  rmSync(dir, { recursive: true, force: true });
}

test('a restored backup: the widget reloads the conversation and misses nothing after it', async () => {
  const visitorCtx = await browser.newContext();
  const visitor = await visitorCtx.newPage();
  const errors = collectErrors(visitor, OFFLINE);

  await visitor.goto(host.url + '/restore');
  await openWidget(visitor);
  await say(visitor, 'kept by the backup');
  await state(visitor, 'kept by the backup', 'delivered');
  const convId = await convWith('kept by the backup');
  const reply = async (text) => {
    const r = await parley.api('POST', `/conversations/${convId}/messages`, { token, body: { text } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };

  const backup = await backupNow();

  // Messages the backup will not have: the widget's cursor moves past it.
  await say(visitor, 'lost by the restore 1');
  await state(visitor, 'lost by the restore 1', 'delivered', { timeout: 30000 });
  await reply('lost by the restore 2');
  await W.bubble(visitor, 'lost by the restore 2').waitFor();

  await restore(backup);

  // The widget reconnects by itself; what the server lost leaves its view.
  await eventually('the lost messages leave the view', async () => (await W.bubble(visitor, 'lost by the restore').count()) === 0, { timeout: 30000 });
  await W.bubble(visitor, 'kept by the backup').waitFor();
  // New messages take the seqs the lost ones had: each one is shown.
  const m = await reply('after the restore 1');
  assert.equal(m.seq, 2, 'the seq of a lost message is used again');
  await W.bubble(visitor, 'after the restore 1').waitFor();
  await say(visitor, 'after the restore 2');
  await state(visitor, 'after the restore 2', 'delivered');
  await reply('after the restore 3');
  await W.bubble(visitor, 'after the restore 3').waitFor();
  const texts = await W.bubbles(visitor).allTextContents();
  const ours = texts.filter((t) => /backup|restore/.test(t));
  assert.deepEqual(ours.map((t) => t.match(/(kept by the backup|after the restore \d|lost by the restore \d)/)[1]),
    ['kept by the backup', 'after the restore 1', 'after the restore 2', 'after the restore 3']);
  assert.deepEqual(errors, []);
  await visitorCtx.close();
});

test('a conversation gone with the restore does not keep the console from resuming the others', async () => {
  const openVisitor = async (path, text) => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(host.url + path);
    await openWidget(page);
    await say(page, text);
    await state(page, text, 'delivered');
    return { ctx, page };
  };
  const kept = await openVisitor('/kept', 'in a conversation the backup has');
  const keptId = await convWith('in a conversation the backup has');
  await openConversation(agent, keptId);
  await agent.locator('main .bubble', { hasText: 'in a conversation the backup has' }).waitFor();
  const backup = await backupNow();

  // A conversation the backup will not have, open in the console.
  const gone = await openVisitor('/gone', 'in a conversation made after the backup');
  await openConversation(agent, await convWith('in a conversation made after the backup'));
  await agent.locator('main .bubble', { hasText: 'in a conversation made after the backup' }).waitFor();
  await restore(backup);

  // The console resumes: it can answer in the conversation that survived.
  await openConversation(agent, keptId);
  await say(agent, 'answered after the restore', 'main');
  await state(agent, 'answered after the restore', 'delivered', { scope: 'main', timeout: 30000 });
  await W.bubble(kept.page, 'answered after the restore').waitFor();
  await Promise.all([kept.ctx.close(), gone.ctx.close()]);
});
