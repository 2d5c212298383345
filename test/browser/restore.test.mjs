// The restore of docs/operations.md under a connected widget: messages the
// backup does not have leave the visitor's view, and every message sent
// after the restore reaches it, though its seq is one the widget had seen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, teardown, collectErrors } from './lib/harness.mjs';
import { W, openWidget, say, state, signInWithLink, consoleToken, eventually } from './lib/ui.mjs';

let parley, host, browser;
before(async () => ({ parley, host, browser } = await setup()));
after(() => teardown({ parley, host, browser }));

// Connection errors while the server is down are expected.
const OFFLINE = [/ERR_CONNECTION_REFUSED/, /WebSocket connection/, /Failed to load resource/];
const DB_FILES = ['parley.db', 'parley.db-wal', 'parley.db-shm'];

test('a restored backup: the widget reloads the conversation and misses nothing after it', async () => {
  const agentCtx = await browser.newContext();
  const visitorCtx = await browser.newContext();
  const agent = await agentCtx.newPage();
  const visitor = await visitorCtx.newPage();
  const errors = collectErrors(visitor, OFFLINE);
  await signInWithLink(agent, parley);
  const token = await consoleToken(agent);

  await visitor.goto(host.url + '/restore');
  await openWidget(visitor);
  await say(visitor, 'kept by the backup');
  await state(visitor, 'kept by the backup', 'delivered');
  const convId = (await parley.api('GET', '/conversations', { token })).json.conversations[0].id;
  const reply = async (text) => {
    const r = await parley.api('POST', `/conversations/${convId}/messages`, { token, body: { text } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };

  // The backup (taken with the server stopped: the files are consistent).
  const backup = mkdtempSync(join(tmpdir(), 'parley-backup-'));
  await parley.stop();
  for (const f of DB_FILES) if (existsSync(join(parley.dir, f))) copyFileSync(join(parley.dir, f), join(backup, f));
  await parley.ensureUp();

  // Messages the backup will not have: the widget's cursor moves past it.
  await say(visitor, 'lost by the restore 1');
  await state(visitor, 'lost by the restore 1', 'delivered', { timeout: 30000 });
  await reply('lost by the restore 2');
  await W.bubble(visitor, 'lost by the restore 2').waitFor();

  // The restore: stop, put the backup back (and only its files), start.
  await parley.stop();
  for (const f of DB_FILES) {
    rmSync(join(parley.dir, f), { force: true });
    if (existsSync(join(backup, f))) copyFileSync(join(backup, f), join(parley.dir, f));
  }
  await parley.ensureUp();

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
  rmSync(backup, { recursive: true, force: true });
  await agentCtx.close();
  await visitorCtx.close();
});
