// Measures the widget in headless Chromium against a real parley on
// loopback: what a host page downloads for it (closed, and opened), how
// long until the button shows, until a new visitor can type, and from
// Enter to the server's acknowledgement. Medians of --runs runs (default 20).
//
//   node test/browser/bench-widget.mjs [--runs 20] [--latency 0]     (make bench-widget)
import { Parley, hostPage, launchBrowser } from './lib/harness.mjs';
import { W } from './lib/ui.mjs';

const arg = (name, def) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : def);
const runs = arg('--runs', 20);
const latency = arg('--latency', 0); // ms added to each request (Chromium's network emulation), for a real network's round trips
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
  if (latency) await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: -1 });
  let bytes = 0;
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    if ((urls.get(e.requestId) || '').startsWith(parley.url)) bytes += e.encodedDataLength;
  });
  cdp.on('Network.webSocketFrameReceived', (e) => (bytes += e.response.payloadData.length));
  // Times come from the page's own clock (performance marks the widget
  // sets), not from polling it from here.
  const markAt = (name) => page.waitForFunction((n) => performance.getEntriesByName(n)[0]?.startTime, name, { polling: 'raf' }).then((h) => h.jsonValue());
  await page.goto(host.url, { waitUntil: 'domcontentloaded' });
  out.buttonMs.push(Math.round(await markAt('parley:widget-ready')));
  await page.waitForLoadState('networkidle');
  out.closedBytes.push(bytes);
  await W.launcher(page).evaluate((el) => { window.__clickAt = performance.now(); el.click(); });
  const connectedAt = await markAt('parley:connected');
  out.typeMs.push(Math.round(connectedAt - (await page.evaluate(() => window.__clickAt))));
  await W.textarea(page).waitFor({ state: 'visible' });
  out.openBytes.push(bytes);
  await W.textarea(page).fill(`hello ${i}`);
  await W.textarea(page).evaluate((el) => { window.__sentAt = performance.now(); });
  await W.textarea(page).press('Enter');
  const ackAt = await page.waitForFunction((text) => [...document.querySelector('parley-chat').shadowRoot.querySelectorAll('.bubble')]
    .some((b) => b.textContent.includes(text) && /, (delivered|read)$/.test(b.getAttribute('aria-label'))) && performance.now(), `hello ${i}`, { polling: 'raf' });
  out.ackMs.push(Math.round((await ackAt.jsonValue()) - (await page.evaluate(() => window.__sentAt))));
  await ctx.close();
}
await browser.close();
await host.close();
await parley.close();

const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
console.log(`widget, ${runs} runs${latency ? `, ${latency} ms added latency` : ''}, medians (min–max):`);
console.log(`  downloaded, closed:          ${kb(median(out.closedBytes))}  (gzip, nothing cached)`);
console.log(`  downloaded, opened + chat:   ${kb(median(out.openBytes))}`);
console.log(`  navigation → button ready:   ${median(out.buttonMs)} ms (${Math.min(...out.buttonMs)}–${Math.max(...out.buttonMs)})`);
console.log(`  click → connected:           ${median(out.typeMs)} ms (${Math.min(...out.typeMs)}–${Math.max(...out.typeMs)})`);
console.log(`  Enter → delivered tick:      ${median(out.ackMs)} ms (${Math.min(...out.ackMs)}–${Math.max(...out.ackMs)})`);
