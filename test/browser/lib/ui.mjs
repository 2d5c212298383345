// Helpers that drive the widget and the console as a person would. The
// widget's shadow root is open, and Playwright's CSS locators pierce it.
import assert from 'node:assert/strict';
import { deflateSync, crc32 } from 'node:zlib';

export const W = {
  launcher: (page) => page.locator('parley-chat .launcher'),
  panel: (page) => page.locator('parley-chat .panel'),
  textarea: (page) => page.locator('parley-chat textarea'),
  bubbles: (page) => page.locator('parley-chat .log .bubble'),
  bubble: (page, text) => page.locator('parley-chat .log .bubble', { hasText: text }),
  dot: (page) => page.locator('parley-chat .launcher .dot'),
  status: (page) => page.locator('parley-chat header .title p'),
  fileInput: (page) => page.locator('parley-chat input[type=file]'),
  banner: (page) => page.locator('parley-chat .banner'),
};

export async function openWidget(page) {
  await W.launcher(page).click();
  await W.textarea(page).waitFor({ state: 'visible' });
}

export async function say(page, text, scope = 'parley-chat') {
  const ta = page.locator(`${scope} textarea[aria-label="Message"]`);
  await ta.fill(text);
  await ta.press('Enter');
}

// rowOf is the message row (bubble and its meta line) holding text.
export function rowOf(page, text, scope = 'parley-chat') {
  return page.locator(`${scope} .log .row`, { has: page.locator('.bubble', { hasText: text }) });
}

// state waits until the bubble holding text says (in its accessible
// name, which every bubble has, unlike the tick that only the last bubble of
// a group shows) that it is sending, delivered or read.
export async function state(page, text, want, { scope = 'parley-chat', timeout = 20000 } = {}) {
  const re = { sending: /, sending$/, delivered: /, (delivered|read)$/, read: /, read$/ }[want];
  const b = page.locator(`${scope} .log .bubble`, { hasText: text }).first();
  await eventually(`"${text}" is ${want}`, async () => re.test((await b.getAttribute('aria-label')) || ''), { timeout });
}

// C: the console, by the hooks it promises.
export const C = {
  list: (page) => page.locator('nav[aria-label="Conversations"]'),
  item: (page, convId) => page.locator(`nav[aria-label="Conversations"] button[data-conversation="${convId}"]`),
  items: (page) => page.locator('nav[aria-label="Conversations"] button[data-conversation]'),
  thread: 'main',
  status: (page) => page.locator('select[aria-label="Your status"]'),
};

// signInWithLink follows the first-start link and chooses a login.
export async function signInWithLink(page, parley, login = 'owner@acme.example', password = 'correct horse battery') {
  await page.goto(parley.signinLink);
  await page.getByLabel('Login', { exact: true }).fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Confirm password').fill(password);
  await page.getByRole('button', { name: 'Save and continue' }).click();
  await C.list(page).waitFor();
  return { login, password };
}

export async function consoleToken(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('parley.console.session')).token);
}

// openFirstConversation opens the newest conversation in the console.
export async function openConversation(page, convId) {
  const item = convId ? C.item(page, convId) : C.items(page).first();
  await item.waitFor();
  await item.click();
  await page.locator('main textarea[aria-label="Message"]').waitFor({ state: 'visible' });
}

// png makes a real PNG image of w×h noisy pixels (noise does not
// compress, so the upload is big enough to report progress).
export function png(w, h, seed = 1) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let x = seed;
  for (let i = 0; i < raw.length; i++) {
    if (i % (w * 3 + 1) === 0) { raw[i] = 0; continue; }
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    raw[i] = (x >> 16) & 0xff;
  }
  return encodePNG(w, h, raw);
}

// picture makes a small PNG that looks like a photo (a sky, a sun and
// mountains), for screenshots.
export function picture(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  const ridge = (px) => h * (0.55 + 0.18 * Math.abs(Math.sin(px / w * 5.1)) * Math.cos(px / w * 2.3) - 0.1 * Math.sin(px / w * 11));
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let px = 0; px < w; px++) {
      const i = y * (w * 3 + 1) + 1 + px * 3;
      const t = y / h;
      let c = [255 - 90 * t, 180 - 40 * t, 120 + 100 * t]; // dawn sky
      const sun = Math.hypot(px - w * 0.7, y - h * 0.35) < h * 0.12;
      if (sun) c = [255, 236, 170];
      if (y > ridge(px)) c = [40 + 30 * (1 - t), 70 + 40 * (1 - t), 90 + 30 * (1 - t)];
      if (y > ridge(px * 1.7 + 40) + h * 0.12) c = [25, 45, 55];
      raw[i] = c[0]; raw[i + 1] = c[1]; raw[i + 2] = c[2];
    }
  }
  return encodePNG(w, h, raw);
}

function encodePNG(w, h, raw) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })), chunk('IEND', Buffer.alloc(0))]);
}

// watchProgress records, in the page, the highest upload progress any
// progress bar of the widget showed.
export async function watchProgress(page) {
  await page.evaluate(() => {
    window.__maxProgress = -1;
    const root = document.querySelector('parley-chat').shadowRoot;
    const seen = () => {
      for (const el of root.querySelectorAll('[role=progressbar]')) {
        window.__maxProgress = Math.max(window.__maxProgress, Number(el.getAttribute('aria-valuenow')));
      }
    };
    new MutationObserver(seen).observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  });
  return () => page.evaluate(() => window.__maxProgress);
}

export async function eventually(what, fn, { timeout = 10000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      if ((last = await fn())) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) assert.fail(`not within ${timeout} ms: ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}
