import { eventually } from './ui.mjs';

// Room and channel parties for browser tests: a bare page of the server
// with an SDK client signed in as a user of the account (minted with the
// API key). window.R holds the client and, once in, the room.
export async function userToken(parley, user, role = 'member', name = user) {
  const r = await parley.api('POST', '/tokens', { token: parley.apiKey, body: { user, role, display_name: name } });
  if (r.status !== 200) throw new Error(`token for ${user}: ${r.status} ${r.text}`);
  return r.json.token;
}

// roomPage opens a page in ctx (a browser context) connected as user.
export async function roomPage(ctx, parley, user, role = 'member') {
  const token = await userToken(parley, user, role, user[0].toUpperCase() + user.slice(1));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(user, 'pageerror', e.message));
  await page.goto(parley.url + '/healthz');
  await page.evaluate(async ({ token, user }) => {
    const sdk = await import('/sdk/index.js');
    const client = new sdk.Client({ url: location.origin, token: async () => token, storageKey: 'r.' + user });
    window.R = { client, sdk };
    await new Promise((resolve) => {
      client.addEventListener('connected', resolve, { once: true });
      client.connect();
    });
  }, { token, user });
  return page;
}

// join enters a room (or, with channel/watch, a channel) and waits for the
// reply. tone: send a continuous 440 Hz tone instead of the fake
// microphone (whose short beeps never count as speaking).
export async function join(page, { room, channel, watch = false, media, tone = false } = {}) {
  return page.evaluate(async ({ room, channel, watch, media, tone }) => {
    const rooms = window.R.client.rooms;
    if (tone) {
      const cam = await navigator.mediaDevices.getUserMedia({ video: media?.video || true });
      const ac = new AudioContext();
      const osc = ac.createOscillator();
      const gain = ac.createGain();
      gain.gain.value = 0.5;
      const dest = ac.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      media = { stream: new MediaStream([...dest.stream.getAudioTracks(), ...cam.getVideoTracks()]) };
    }
    const r = room ? await rooms.join(room, { media }) : watch ? await rooms.watch(channel) : await rooms.publish(channel, { media });
    window.R.room = r;
    return { id: r.id, me: r.me };
  }, { room, channel, watch, media, tone });
}

// stats is the room's getStats summary (frames decoded per remote video, ...).
export function roomStats(page) {
  return page.evaluate(() => window.R.room.stats());
}

// decoding waits until every page decodes `want` remote videos whose
// frame counts keep growing.
export async function decoding(pages, want, what) {
  await eventually(`${what}: ${want} remote videos each`, async () => {
    for (const p of pages) if ((await roomStats(p)).videos.filter((v) => v.framesDecoded > 0).length < want) return false;
    return true;
  }, { timeout: 30000, every: 500 });
  // Then every page's videos keep decoding: 10 more frames each (within
  // 2 s normally; a layer switch after someone rejoins can stall one a
  // little longer, so allow 10 s and say when it took more than 3).
  const first = await Promise.all(pages.map(roomStats));
  const t0 = Date.now();
  let last;
  await eventually(`${what}: every video decodes on`, async () => {
    last = await Promise.all(pages.map(roomStats));
    return last.every((s, i) => s.videos.filter((v) => v.framesDecoded >= (first[i].videos.find((f) => f.mid === v.mid)?.framesDecoded ?? 0) + 10).length >= want);
  }, { timeout: 10000, every: 250 }).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(first.map((s) => s.videos))} → ${JSON.stringify(last.map((s) => s.videos))}`);
  });
  if (Date.now() - t0 > 3000) console.log(`${what}: videos took ${Date.now() - t0} ms to decode 10 more frames`);
  return last;
}
