// Measures a video call between two headless Chromiums (fake camera and
// microphone) through a real parley on loopback: from the call being
// placed to the callee's ring, and from the callee pressing accept to the
// first decoded video frame on each side. Medians of --runs calls.
//
//   node test/browser/bench-call.mjs [--runs 20] [--relay]     (make bench-call)
import { Parley, launchBrowser } from './lib/harness.mjs';
import { sdkParty, ownerToken } from './lib/calls.mjs';

const arg = (name, def) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : def);
const runs = arg('--runs', 20);
const relay = process.argv.includes('--relay');
const parley = await Parley.start(['--address-attempts-per-minute', '100000']);
const browser = await launchBrowser();
const token = await ownerToken(parley);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { ringMs: [], callerFrameMs: [], calleeFrameMs: [] };

// firstFrame resolves with Date.now() at the first remote video frame the
// page paints for the call (both pages share this machine's clock).
const watchFirstFrame = (page) => page.evaluate(() => {
  window.P.firstFrame = new Promise((resolve) => {
    const watch = (s) => {
      const v = document.createElement('video');
      v.muted = true;
      v.autoplay = true;
      document.body.append(v);
      const attach = () => {
        if (!s.remoteStream.getVideoTracks().length || v.srcObject) return;
        v.srcObject = s.remoteStream;
        v.requestVideoFrameCallback(() => resolve(Date.now()));
      };
      s.addEventListener('stream', attach);
      attach();
    };
    window.P.client.calls.addEventListener('incoming', (e) => watch(e.detail), { once: true });
    window.P.client.calls.addEventListener('outgoing', (e) => watch(e.detail), { once: true });
  });
});

for (let i = 0; i < runs; i++) {
  const visitor = await sdkParty(browser, parley, 'visitor', { relay });
  const owner = await sdkParty(browser, parley, 'owner', { token, relay });
  await watchFirstFrame(visitor);
  await watchFirstFrame(owner);
  const ringing = owner.evaluate(() => new Promise((resolve) => window.P.client.calls.addEventListener('incoming', () => resolve(Date.now()), { once: true })));
  const placedAt = await visitor.evaluate(() => { const t = Date.now(); window.P.client.calls.start(window.P.conv, 'video'); return t; });
  out.ringMs.push((await ringing) - placedAt);
  const acceptedAt = await owner.evaluate(() => { const t = Date.now(); window.P.sessions.at(-1).accept(); return t; });
  out.callerFrameMs.push((await visitor.evaluate(() => window.P.firstFrame)) - acceptedAt);
  out.calleeFrameMs.push((await owner.evaluate(() => window.P.firstFrame)) - acceptedAt);
  await visitor.evaluate(() => window.P.client.calls.current?.hangup());
  await owner.waitForFunction(() => window.P.sessions.at(-1).state === 'ended');
  await visitor.context().close();
  await owner.context().close();
}
await browser.close();
await parley.close();

const range = (xs) => `${median(xs)} ms  (${Math.min(...xs)}–${Math.max(...xs)})`;
console.log(`video call, ${runs} calls${relay ? ', media forced through the embedded TURN server' : ', direct'}, medians (min–max):`);
console.log(`  placed → callee rings:                 ${range(out.ringMs)}`);
console.log(`  accept → first frame at the caller:    ${range(out.callerFrameMs)}`);
console.log(`  accept → first frame at the callee:    ${range(out.calleeFrameMs)}`);
