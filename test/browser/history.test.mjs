// Conversations of thousands of messages, in the widget, the chat page and
// the console: each opens at its newest message, at the bottom; scrolling
// up loads older pages until the first message, with every message once and
// in order, and the message in view stays put as a page is put above it; a
// message that arrives while the person reads further up does not move the
// view, is counted on a "new messages" button and stays unread until they
// scroll down to it; the console's list and the widget's launcher count
// what is unread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, teardown, collectErrors } from './lib/harness.mjs';
import { audit } from './lib/a11y.mjs';
import { W, C, openWidget, say, signInWithLink, consoleToken, openConversation, state, eventually } from './lib/ui.mjs';

// Seeding sends thousands of messages from one user: lift the send budget.
const ARGS = ['--messages-per-second', '100000', '--messages-burst', '100000'];
const N = 2500; // messages in each long conversation

let parley, host, browser, agentCtx, agent, owner;
before(async () => {
  ({ parley, host, browser } = await setup({ args: ARGS, host: { css: '' } }));
  agentCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  agent = await agentCtx.newPage();
  await signInWithLink(agent, parley);
  owner = await consoleToken(agent);
});
after(() => teardown({ parley, host, browser }));

const text = (i) => `#${i} ${i % 7 === 0 ? 'a longer message, so that rows differ in height and a page is not a round number of pixels: ' + 'lorem ipsum '.repeat(i % 5 + 1) : 'message'}`;

// seed sends messages from..to (texts by text(i)) to a conversation over
// one WebSocket in a page of the server's origin, one after the other so
// that seq order is send order; a refusal for the budget waits and resends.
async function seed(token, convId, from, to) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(parley.url + '/healthz');
  const texts = [];
  for (let i = from; i <= to; i++) texts.push(text(i));
  const seqs = await page.evaluate(async ({ url, token, convId, texts, from }) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', ['parley.v1', 'bearer.' + token]);
    const waiting = new Map();
    await new Promise((resolve, reject) => {
      ws.onmessage = (e) => {
        const env = JSON.parse(e.data);
        if (env.event === 'chat:connected') resolve();
        const w = waiting.get(env.id);
        if (w) {
          waiting.delete(env.id);
          w(env);
        }
      };
      ws.onclose = (e) => reject(new Error('closed ' + e.code));
    });
    let n = 0;
    const ask = (event, data) => new Promise((resolve) => {
      const id = String(++n);
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ event, id, data }));
    });
    const seqs = [];
    for (const [i, text] of texts.entries()) {
      for (;;) {
        const r = await ask('chat:send', { conversation_id: convId, text, client_id: 'seed-' + (from + i) });
        if (r.event === 'error' && r.data.code === 'rate_limited') {
          await new Promise((ok) => setTimeout(ok, r.data.retry_after_ms || 100));
          continue;
        }
        if (r.event === 'error') throw new Error(`${r.data.code}: ${r.data.message}`);
        seqs.push(r.data.seq);
        break;
      }
    }
    ws.close();
    return seqs;
  }, { url: parley.url, token, convId, texts, from });
  await ctx.close();
  assert.equal(seqs[0], from, 'seeded messages take the seqs their texts say');
  assert.equal(seqs.at(-1), to);
}

// In the page: the log of the widget (in its shadow root) or of the console.
const LOG = {
  widget: () => document.querySelector('parley-chat').shadowRoot.querySelector('.log'),
  console: () => document.querySelector('main .log'),
};

// view reports the log's scroll state and the messages it holds, by the
// number each text starts with, and where the first row in view is.
function view(page, where) {
  return page.evaluate((src) => {
    const log = (0, eval)(src)();
    const box = log.getBoundingClientRect();
    const bubbles = [...log.querySelectorAll('.row:not(.welcome) .bubble')];
    const nums = bubbles.map((b) => Number((b.textContent.match(/^#(\d+)/) || [])[1] || 0));
    const inView = bubbles.find((b) => b.getBoundingClientRect().bottom > box.top + 1);
    return {
      scrollTop: log.scrollTop, scrollHeight: log.scrollHeight, clientHeight: log.clientHeight,
      fromBottom: log.scrollHeight - log.scrollTop - log.clientHeight,
      nums, more: !!log.querySelector('.more'), loading: /Loading/.test(log.querySelector('.more')?.textContent || ''),
      first: bubbles[0] ? { key: bubbles[0].dataset.key, top: bubbles[0].getBoundingClientRect().top - box.top } : null,
      anchor: inView ? { key: inView.dataset.key, top: inView.getBoundingClientRect().top - box.top } : null,
      lastVisible: (() => {
        const last = bubbles.at(-1);
        if (!last) return false;
        const r = last.getBoundingClientRect();
        return r.top >= box.top && r.bottom <= box.bottom + 1;
      })(),
    };
  }, LOG[where].toString());
}

function scrollTo(page, where, top) {
  return page.evaluate(([src, top]) => {
    const log = (0, eval)(src)();
    log.scrollTop = top === 'bottom' ? log.scrollHeight : top;
  }, [LOG[where].toString(), top]);
}

// where a row is now, relative to the log's top
function topOf(page, where, key) {
  return page.evaluate(([src, key]) => {
    const log = (0, eval)(src)();
    const el = log.querySelector(`.bubble[data-key="${key}"]`);
    return el ? el.getBoundingClientRect().top - log.getBoundingClientRect().top : null;
  }, [LOG[where].toString(), key]);
}

const span = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// opensAtNewest: the newest message is in view at the bottom, and only the
// newest pages are in the page.
async function opensAtNewest(page, where, newest) {
  const v = await eventually(`the ${where} shows #${newest}`, async () => {
    const v = await view(page, where);
    return v.nums.at(-1) === newest && v.lastVisible && v.fromBottom < 2 ? v : null;
  }, { timeout: 20000 });
  assert.ok(v.nums.length <= 150, `opening loads the newest pages only, not ${v.nums.length} messages`);
  // Positions are compared from here on: let the widget's opening animation end.
  await eventually('nothing moves', () => page.evaluate((src) => (0, eval)(src)().getRootNode().getAnimations().length === 0, LOG[where].toString()));
  assert.ok(v.more, 'the log says earlier messages are there');
  return v;
}

// scrollBackToFirst scrolls to the top again and again until the first
// message: each page put above keeps the row that was in view where it
// was, and at the end every message is there once, in order.
async function scrollBackToFirst(page, where, newest) {
  let pages = 0;
  for (;;) {
    // Where the first message held will be once the log is at the top:
    // measured before scrolling, as the scroll itself asks for the page.
    const before = await eventually('no page on its way', async () => {
      const v = await view(page, where);
      return v.loading ? null : v;
    });
    if (!before.more) break;
    const expected = before.first.top + before.scrollTop;

    await scrollTo(page, where, 0);
    const after = await eventually(`an older page in the ${where} (page ${pages + 1})`, async () => {
      const v = await view(page, where);
      return v.nums[0] < before.nums[0] ? v : null;
    }, { timeout: 20000 });
    // The message that was first stays where it was: the page went above it.
    const top = await topOf(page, where, before.first.key);
    assert.ok(Math.abs(top - expected) <= 1,
      `page ${pages + 1}: #${before.nums[0]} moved from ${expected} to ${top} (scrollTop ${after.scrollTop})`);
    assert.ok(after.scrollTop > 0, 'the view is not left at the top, where it would load everything at once');
    pages++;
    assert.ok(pages < N / 20, 'paging back ends');
  }
  const v = await view(page, where);
  assert.deepEqual(v.nums, span(1, newest), 'every message once, in order, from the first');
  assert.ok(pages >= 10, `${pages} pages`);
  return pages;
}

// arrivesWhileScrolledUp: from the middle of the history, a new message
// does not move the view; the button counts it; clicking it goes down.
async function arrivesWhileScrolledUp(page, where, sendNew, newest, jump) {
  const v0 = await view(page, where);
  await scrollTo(page, where, Math.floor(v0.scrollHeight / 2));
  await page.waitForTimeout(100); // the scroll event
  const v1 = await view(page, where);
  await sendNew();
  await eventually('the new message is counted', async () => (await jump.textContent()) === '1 new message' && (await jump.isVisible()));
  const v2 = await view(page, where);
  assert.equal(v2.nums.at(-1), newest, 'the new message is in the log');
  assert.equal(v2.scrollTop, v1.scrollTop, 'the view did not move');
  assert.equal(await topOf(page, where, v1.anchor.key), v1.anchor.top, 'the row in view did not move');
}

test('the widget opens a long conversation at its newest message and scrolls back to the first', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await page.goto(host.url + '/shop');
  await openWidget(page);
  await say(page, text(1));
  await state(page, '#1 message', 'delivered');
  const { token, convId } = await page.locator('parley-chat').evaluate((el) => ({ token: el.client.token, convId: el.conv.id }));
  await page.goto('about:blank');
  await seed(owner, convId, 2, N);

  // A returning visitor: the launcher counts what the team sent meanwhile.
  await page.goto(host.url + '/shop');
  await eventually('the launcher counts the unread messages', async () =>
    (await W.launcher(page).getAttribute('aria-label')).endsWith(`(${N - 1} unread)`) && (await page.locator('parley-chat .badge').textContent()) === '9+', { timeout: 20000 });
  await openWidget(page);
  await opensAtNewest(page, 'widget', N);
  const unread = async () => (await parley.api('GET', `/conversations/${convId}`, { token })).json.unread || 0;
  await eventually('opened, it is read', async () => (await unread()) === 0);

  const pages = await scrollBackToFirst(page, 'widget', N);
  await page.locator('parley-chat .row.welcome').waitFor(); // the welcome heads the conversation again

  const jump = page.locator('parley-chat .jump');
  await arrivesWhileScrolledUp(page, 'widget', () => seed(owner, convId, N + 1, N + 1), N + 1, jump);
  assert.equal(await unread(), 1, 'a message below the view is not read yet');
  await audit(page, 'the widget scrolled up, with its "new messages" button', 'parley-chat');
  await jump.click();
  await eventually('the jump goes down to it', async () => {
    const v = await view(page, 'widget');
    return v.lastVisible && v.fromBottom < 2 && !(await jump.isVisible());
  });
  await eventually('seen, it is read', async () => (await unread()) === 0);
  assert.deepEqual(errors, []);
  console.log(`widget: ${N + 1} messages, ${pages} pages back to the first`);
  await ctx.close();
});

test('the chat page opens at the newest message and scrolls back to the first', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await page.goto(parley.chatLink);
  await say(page, text(1));
  await state(page, '#1 message', 'delivered');
  const { token, convId } = await page.locator('parley-chat').evaluate((el) => ({ token: el.client.token, convId: el.conv.id }));
  await page.goto('about:blank');
  // The visitor writes too: half the messages are theirs, from another tab.
  const half = Math.floor(N / 2);
  await seed(token, convId, 2, half);
  await seed(owner, convId, half + 1, N);
  await page.goto(parley.chatLink);
  await opensAtNewest(page, 'widget', N);
  await scrollBackToFirst(page, 'widget', N);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the console opens a long conversation at its newest message; unread counts follow what the agent saw', async () => {
  const errors = collectErrors(agent);
  // A visitor with thousands of messages, none read by the team.
  const s = (await parley.api('POST', `/widget/${parley.address}/session`, { body: { page_url: 'https://shop.example/long', page_title: 'Long' } })).json;
  const conv = (await parley.api('POST', '/inbox', { token: s.token })).json;
  await seed(s.token, conv.id, 1, N);
  await agent.reload();
  const item = C.item(agent, conv.id);
  await eventually('the list counts the unread messages', async () => /^99\+\s*unread$/.test((await item.locator('.unread').textContent()) || ''), { timeout: 20000 });
  assert.match(await agent.title(), /^\(99\+\)/);

  await openConversation(agent, conv.id);
  await opensAtNewest(agent, 'console', N);
  await eventually('opened, nothing is unread', async () => (await item.locator('.unread').count()) === 0);
  const me = (await parley.api('GET', `/conversations/${conv.id}`, { token: owner })).json;
  assert.ok(!me.unread, `the server counts ${me.unread} unread`);

  await scrollBackToFirst(agent, 'console', N);

  const jump = agent.locator('main .jump');
  await arrivesWhileScrolledUp(agent, 'console', () => seed(s.token, conv.id, N + 1, N + 1), N + 1, jump);
  await eventually('the list counts the message below the view', async () => /^1\s*unread$/.test((await item.locator('.unread').textContent().catch(() => '')) || ''));
  assert.equal((await parley.api('GET', `/conversations/${conv.id}`, { token: owner })).json.unread, 1);
  await audit(agent, 'the console scrolled up, with its "new messages" button');
  await jump.click();
  await eventually('seen, nothing is unread', async () => (await item.locator('.unread').count()) === 0);
  await eventually('the server agrees', async () => !(await parley.api('GET', `/conversations/${conv.id}`, { token: owner })).json.unread);
  const v = await view(agent, 'console');
  assert.ok(v.lastVisible, 'the newest message is in view');
  assert.deepEqual(errors, []);
});
