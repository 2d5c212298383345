// The console's service worker (scope /console/). It keeps a copy of the
// console's own files, served network-first, so the installed app opens
// to its shell when offline; it never touches the API or the WebSocket.
// A click on a notification focuses an open console (and opens the
// conversation there) or opens a new one. Pushes from the server (Web
// Push) become notifications.

const CACHE = 'parley-console-v3';
const SHELL = [
  '/console/', '/console/main.js', '/console/app.js', '/console/session.js', '/console/signin.js',
  '/console/list.js', '/console/chat.js', '/console/details.js', '/console/settings.js', '/console/notify.js',
  '/console/theme.js', '/console/kit.js', '/console/styles.js', '/console/manifest.webmanifest',
  '/console/icons/192.png', '/console/icons/32.png',
  '/sdk/index.js', '/sdk/client.js', '/sdk/conversation.js', '/sdk/outbox.js', '/sdk/ids.js', '/sdk/visitor.js', '/sdk/console.js', '/sdk/call.js', '/sdk/errors.js',
  '/ui/thread.js', '/ui/styles.js', '/ui/dom.js', '/ui/icons.js', '/ui/format.js', '/ui/recorder.js',
  '/console/calls.js', '/ui/callscreen.js', '/ui/callstyles.js', '/ui/autoplay.js', '/sdk/call.js', '/sdk/errors.js',
  '/console/rooms.js', '/ui/roomscreen.js', '/sdk/room.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One missing file must not stop the install: cache what can be.
    await Promise.allSettled(SHELL.map((u) => cache.add(new Request(u, { cache: 'no-cache' }))));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE && k.startsWith('parley-console-')) await caches.delete(k);
    await self.clients.claim();
  })());
});

// ours: the console's files and the modules it imports. Never /api/ or /ws.
function ours(url) {
  if (url.origin !== self.location.origin) return false;
  const p = url.pathname;
  if (p.startsWith('/api/') || p === '/ws' || p.startsWith('/ws/')) return false;
  return p.startsWith('/console/') || p.startsWith('/sdk/') || p.startsWith('/ui/');
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (!ours(url)) return;
  // Every page of the console is the one shell (the hash picks the view).
  const key = req.mode === 'navigate' ? '/console/' : url.pathname;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') cache.put(key, res.clone()).catch(() => {});
      return res;
    } catch (err) {
      const hit = await cache.match(key);
      if (hit) return hit;
      throw err;
    }
  })());
});

// A push from the server: a visitor wrote while this console was closed or
// asleep (the server pushes only to people with no open connection).
self.addEventListener('push', (event) => {
  let p = {};
  try {
    p = event.data ? event.data.json() : {};
  } catch {
    p = { body: event.data?.text() || '' };
  }
  const id = p.conversation_id || '';
  event.waitUntil(self.registration.showNotification(p.title || 'New message', {
    body: p.body || 'A visitor wrote to you.', tag: id || 'parley', renotify: true,
    icon: '/console/icons/192.png', badge: '/console/icons/32.png',
    data: { conversation_id: id, url: '/console/' + (id ? '#c=' + encodeURIComponent(id) : '') },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data?.conversation_id || '';
  const url = '/console/' + (id ? '#c=' + encodeURIComponent(id) : '');
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const win = wins.find((w) => new URL(w.url).pathname.startsWith('/console/'));
    if (win) {
      await win.focus();
      if (id) win.postMessage({ type: 'parley:open', conversation_id: id });
      return;
    }
    await self.clients.openWindow(url);
  })());
});
