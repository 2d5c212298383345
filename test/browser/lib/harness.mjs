// The browser tests' harness: a real parley binary on loopback (its own
// port and data directory per test), Debian's Chromium driven by
// playwright-core, and a host page on another origin to embed the widget in.
import { spawn, execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, '..', '..', '..');
export const shotsDir = join(repo, 'test', 'browser', 'screenshots');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen', // screen sharing without a picker
  // Chromium's desktop default, said out loud: media with sound starts only
  // once the person has interacted with the page. The fake devices send a
  // beep, so every stream the tests play has sound in it.
  '--autoplay-policy=document-user-activation-required',
];

// parleyBinary is the binary under test: $PARLEY_BIN (the Makefile builds
// it once), or one built here.
let built = null;
export function parleyBinary() {
  if (process.env.PARLEY_BIN) return process.env.PARLEY_BIN;
  if (!built) {
    built = join(mkdtempSync(join(tmpdir(), 'parley-browser-')), 'parley');
    execFileSync('go', ['build', '-o', built, './cmd/parley'], { cwd: repo, stdio: 'inherit' });
  }
  return built;
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: install Debian's package with "apt-get install -y chromium" (make test does), or set CHROMIUM`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  withoutDriverGestures(browser);
  return browser;
}

// withoutDriverGestures stops Playwright from handing the page a user
// activation with every evaluate and locator call (it sends
// Runtime.callFunctionOn with userGesture: true). With it, any page a test
// had looked at counted as clicked, and autoplay with sound was always
// allowed: a page that relied on autoplay passed its tests and was black
// for real visitors. Now only real input (click, keyboard) activates a
// page, as for a person. Playwright has no option for this, so it is
// patched in its in-process server; if that changes, this fails loudly.
function withoutDriverGestures(browser) {
  const server = browser._connection?.toImpl?.(browser);
  const proto = server?._session && Object.getPrototypeOf(server._session);
  if (typeof proto?.send !== 'function') {
    throw new Error('harness: cannot reach playwright-core\'s CDP session to stop evaluate() from activating pages; update withoutDriverGestures for this playwright-core version');
  }
  if (proto.send.withoutGestures) return;
  const send = proto.send;
  proto.send = function (method, params) {
    if (method === 'Runtime.callFunctionOn' && params?.userGesture) params = { ...params, userGesture: false };
    return send.call(this, method, params);
  };
  proto.send.withoutGestures = true;
}

// freePort asks the kernel for an unused loopback port.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// Parley is one parley process.
export class Parley {
  // start runs a server. firstStart: it starts on an empty database and
  // prints the default account it made (a node joining a cluster does not).
  static async start(extra = [], { firstStart = true } = {}) {
    const p = new Parley();
    p.dir = mkdtempSync(join(tmpdir(), 'parley-data-'));
    p.port = await freePort();
    p.url = `http://127.0.0.1:${p.port}`;
    p.extra = extra;
    await p._run().catch((e) => {
      rmSync(p.dir, { recursive: true, force: true });
      throw e;
    });
    if (!firstStart) return p;
    const out = await p._waitFor(/API key.*\n/);
    p.signinLink = out.match(/(http:\S+\/console\/#signin=\S+)/)[1];
    p.chatLink = out.match(/(http:\S+\/chat\/[A-Za-z0-9]{8})/)[1];
    p.address = p.chatLink.slice(-8);
    p.apiKey = out.match(/(key_\S+\.\S+)/)[1];
    p.accountId = out.match(/\((acc_[a-z0-9]+)\)/)[1];
    return p;
  }

  async _run() {
    this.stdout = '';
    this.stderr = '';
    this.proc = spawn(parleyBinary(), ['serve', '--addr', `127.0.0.1:${this.port}`, '--data-dir', this.dir,
      '--public-url', this.url, '--log-level', 'warn',
      // TURN on a free port of its own (servers run side by side), relaying on loopback.
      '--turn-listen', '127.0.0.1:0', '--turn-public-ip', '127.0.0.1', '--turn-allow-private-peers',
      // The SFU's media on a free loopback UDP port too.
      '--sfu-udp-addr', '127.0.0.1:0',
      ...this.extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (b) => (this.stdout += b));
    this.proc.stderr.on('data', (b) => (this.stderr += b));
    this.exited = new Promise((r) => this.proc.on('exit', r));
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        const res = await fetch(this.url + '/healthz');
        if (res.ok) return;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) {
        this.proc.kill('SIGKILL'); // none left running behind a failed test
        throw new Error(`parley did not start:\n${this.stdout}\n${this.stderr}`);
      }
      await sleep(50);
    }
  }

  async _waitFor(re) {
    const deadline = Date.now() + 10000;
    while (!re.test(this.stdout)) {
      if (Date.now() > deadline) throw new Error(`parley printed no ${re}:\n${this.stdout}`);
      await sleep(20);
    }
    return this.stdout;
  }

  // stop sends SIGTERM (a graceful restart); kill sends SIGKILL (a crash).
  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode !== null || this.proc.signalCode) return;
    this.proc.kill(signal);
    await this.exited;
  }

  kill() {
    return this.stop('SIGKILL');
  }

  // restart runs the server again on the same port and data.
  async restart() {
    await this.stop();
    await this._run();
  }

  async ensureUp() {
    if (this.proc.exitCode !== null || this.proc.signalCode) await this._run();
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // api calls the REST API with a token or API key.
  async api(method, path, { token, body, headers = {} } = {}) {
    const res = await fetch(this.url + '/api/v1' + path, {
      method, headers: { ...headers, ...(token ? { Authorization: 'Bearer ' + token } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch { /* not JSON */ }
    return { status: res.status, json, text, headers: res.headers };
  }
}

// Cluster is several parley processes serving as one: the same PostgreSQL
// database (made for this cluster, dropped by close) and the same Redis
// key prefix (random, its keys deleted by close), each node its own HTTP,
// SFU and TURN port, data directory and node id (docs/scaling.md). Node 0
// starts first and makes the default account; every node serves it, so a
// node's apiKey, accountId and address are node 0's, and its signinLink and
// chatLink node 0's on its own URL (the sign-in link still works once).
export class Cluster {
  static async start(n, extra = []) {
    const c = new Cluster();
    c.nodes = [];
    c.db = `parley_b_${randomBytes(6).toString('hex')}`;
    c.prefix = `test:b${randomBytes(8).toString('hex')}:`;
    await redisCommand('PING'); // fails saying how to start Redis
    psql(`CREATE DATABASE ${c.db}`); // fails saying how to start PostgreSQL
    try {
      const shared = ['--database-url', databaseURL(c.db), '--redis-url', redisURL(), '--redis-prefix', c.prefix,
        '--sfu-public-ip', '127.0.0.1', ...extra];
      // One after the other: the first migrates the database and makes the
      // account and the secrets the others read.
      for (let i = 0; i < n; i++) {
        const node = await Parley.start(['--node-id', `node${i}-${randomBytes(3).toString('hex')}`, ...shared], { firstStart: i === 0 });
        c.nodes.push(node);
        if (i > 0) {
          for (const k of ['address', 'apiKey', 'accountId']) node[k] = c.nodes[0][k];
          // The same one-time sign-in link and chat link, on this node.
          for (const k of ['signinLink', 'chatLink']) node[k] = node.url + c.nodes[0][k].slice(c.nodes[0].url.length);
        }
      }
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  async close() {
    for (const node of this.nodes) await node.close();
    psql(`DROP DATABASE IF EXISTS ${this.db} WITH (FORCE)`);
    await redisCommand('EVAL', "local ks = redis.call('KEYS', ARGV[1]) for _, k in ipairs(ks) do redis.call('DEL', k) end return #ks", '0', this.prefix + '*');
  }
}

// The PostgreSQL and Redis the cluster tests use: the Go tests' variables
// and defaults (internal/pgtest, internal/redistest).
const postgresAdminURL = () => process.env.PARLEY_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable';
const redisURL = () => process.env.PARLEY_TEST_REDIS_URL || 'redis://127.0.0.1:6379/0';

function databaseURL(name) {
  const u = new URL(postgresAdminURL());
  u.pathname = '/' + name;
  return u.toString();
}

// psql runs one statement on the admin database with Debian's psql.
function psql(sql) {
  const admin = postgresAdminURL();
  try {
    execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (e.code === 'ENOENT') {
      throw new Error('psql is not installed: the cluster tests need PostgreSQL and its client. Run scripts/deps-postgres.sh (or `make deps`), which installs Debian\'s postgresql and starts it on 127.0.0.1:5432');
    }
    throw new Error(`PostgreSQL at ${admin} (${sql}): ${e.stderr || e.message}\n` +
      'Start it (installing Debian\'s postgresql if missing) with scripts/deps-postgres.sh or `make deps`, ' +
      'or point PARLEY_TEST_POSTGRES_URL at a server where this user may CREATE DATABASE.');
  }
}

// redisCommand sends one command (after AUTH and SELECT from the URL) whose
// reply is one line (+OK, :n, -ERR) and returns that reply.
function redisCommand(...args) {
  const u = new URL(redisURL());
  const cmds = [];
  if (u.password) cmds.push(u.username ? ['AUTH', decodeURIComponent(u.username), decodeURIComponent(u.password)] : ['AUTH', decodeURIComponent(u.password)]);
  if (u.pathname.length > 1) cmds.push(['SELECT', u.pathname.slice(1)]);
  cmds.push(args);
  const resp = cmds.map((c) => `*${c.length}\r\n` + c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')).join('');
  const where = `${u.hostname}:${u.port || 6379}`;
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      sock.destroy();
      reject(new Error(`Redis does not answer at ${where} (${why}). Start it with scripts/deps-redis.sh (or \`make deps\`), ` +
        'which runs redis-server on 127.0.0.1:6379 and installs Debian\'s redis-server if it is missing; or point PARLEY_TEST_REDIS_URL at one.'));
    };
    const sock = connect(Number(u.port || 6379), u.hostname, () => sock.write(resp));
    sock.setTimeout(5000, () => fail('no reply within 5 s'));
    sock.on('error', (e) => fail(e.message));
    let buf = '';
    sock.on('data', (b) => {
      buf += b;
      const lines = buf.split('\r\n').slice(0, -1);
      if (lines.length < cmds.length) return;
      sock.end();
      const bad = lines.find((l) => l.startsWith('-'));
      if (bad) fail(bad.slice(1));
      else resolve(lines.at(-1));
    });
  });
}

// hostPage serves a page on its own origin that embeds the widget, by
// default with CSS that would break anything not isolated from it.
export async function hostPage(parley, { css = '* { all: unset !important; } div { display: none !important; } body { font: 40px serif; color: red; }', extraAttrs = '', body = '', content } = {}) {
  const port = await freePort();
  const html = (path) => `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Acme shop${path}</title><style>${css}</style></head>
<body>${content ?? `<h1>Acme shop</h1><div class="site"><p>Products ${path}</p></div>`}${body}
<script src="${parley.url}/widget.js" data-address="${parley.address}" ${extraAttrs} async></script></body></html>`;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html(req.url));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

// setup starts what a test file needs: a server (with extra flags), a host
// page embedding its widget, and a browser. teardown stops them.
export async function setup({ args = [], host: hostOpts = {} } = {}) {
  const parley = await Parley.start(args);
  const host = await hostPage(parley, hostOpts);
  const browser = await launchBrowser();
  return { parley, host, browser };
}

export async function teardown({ parley, host, browser } = {}) {
  await browser?.close();
  await host?.close();
  await parley?.close();
}

// siteToken signs a customer's identity the way a site's backend does,
// with its Parley API key (docs/widget.md).
export function siteToken(parley, sub, name, ttlSeconds = 3600) {
  const [kid, secret] = [parley.apiKey.slice(0, parley.apiKey.indexOf('.')), parley.apiKey.slice(parley.apiKey.indexOf('.') + 1)];
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const data = b64({ alg: 'HS256', typ: 'JWT', kid }) + '.' + b64({ sub, acc: parley.accountId, role: 'visitor', name, iat: now, exp: now + ttlSeconds });
  return data + '.' + createHmac('sha256', secret).update(data).digest('base64url');
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function ensureShotsDir() {
  mkdirSync(shotsDir, { recursive: true });
  return shotsDir;
}

// collectErrors records page errors and console errors, for asserting none.
export function collectErrors(page, ignore = []) {
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    if (ignore.some((re) => re.test(t))) return;
    errors.push('console: ' + t);
  });
  return errors;
}
