// Measures the widget in headless Chromium against a real parley on
// loopback: what a host page downloads for it (closed, and opened), how
// long until the button shows, until a new visitor can type, and from
// Enter to the server's acknowledgement. Medians of --runs runs (default 20).
//
//   node test/browser/bench-widget.mjs [--runs 20]      (make bench-widget)
import { Parley, hostPage, launchBrowser } from './lib/harness.mjs';
import { W } from './lib/ui.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const parley = await Parley.start(['--address-attempts-per-minute', '100000']);
const host = await hostPage(parley, { css: '' });
const browser = await launchBrowser();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { closedBytes: [], openBytes: [], buttonMs: [], typeMs: [], ackMs: [] };

for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    if ((urls.get(e.requestId) || '').startsWith(parley.url)) bytes += e.encodedDataLength;
  });
  cdp.on('Network.webSocketFrameReceived', (e) => (bytes += e.response.payloadData.length));
  const t0 = Date.now();
  await page.goto(host.url, { waitUntil: 'domcontentloaded' });
  await W.launcher(page).waitFor();
  out.buttonMs.push(Date.now() - t0);
  await page.waitForLoadState('networkidle');
  out.closedBytes.push(bytes);
  const t1 = Date.now();
  await W.launcher(page).click();
  await W.textarea(page).waitFor({ state: 'visible' });
  await page.waitForFunction(() => document.querySelector('parley-chat').client?.state === 'connected');
  out.typeMs.push(Date.now() - t1);
  out.openBytes.push(bytes);
  await W.textarea(page).fill(`hello ${i}`);
  const t2 = Date.now();
  await W.textarea(page).press('Enter');
  await page.waitForFunction((text) => [...document.querySelector('parley-chat').shadowRoot.querySelectorAll('.bubble')]
    .some((b) => b.textContent.includes(text) && /, (delivered|read)$/.test(b.getAttribute('aria-label'))), `hello ${i}`, { polling: 'raf' });
  out.ackMs.push(Date.now() - t2);
  await ctx.close();
}
await browser.close();
await host.close();
await parley.close();

const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
console.log(`widget, ${runs} runs, medians (min–max):`);
console.log(`  downloaded, closed:          ${kb(median(out.closedBytes))}  (gzip, nothing cached)`);
console.log(`  downloaded, opened + chat:   ${kb(median(out.openBytes))}`);
console.log(`  navigation → button shown:   ${median(out.buttonMs)} ms (${Math.min(...out.buttonMs)}–${Math.max(...out.buttonMs)})`);
console.log(`  click → can type, connected: ${median(out.typeMs)} ms (${Math.min(...out.typeMs)}–${Math.max(...out.typeMs)})`);
console.log(`  Enter → delivered tick:      ${median(out.ackMs)} ms (${Math.min(...out.ackMs)}–${Math.max(...out.ackMs)})`);
