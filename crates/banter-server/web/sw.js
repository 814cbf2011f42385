// Service worker: makes Banter installable and opens offline (app shell),
// and shows Web Push notifications; a click opens the conversation.
//
// The page loads its files from `/assets/<version>/…` (fingerprinted URLs,
// immutable; the server writes the prefix into this file as it serves it,
// so a deploy is a new service worker). Install precaches that shell with
// `cache: 'force-cache'`: what the page has just loaded comes from the HTTP
// cache, so a first visit downloads each file once. The fingerprinted files
// are answered from the cache first; everything else network first.

// The same URL the page would use (the prefix is written in when served),
// so the module is downloaded once and precached from the HTTP cache.
import { notificationFromPush } from '/assets/__BANTER_ASSET_VERSION__/app/notify.js';

const ASSETS = '/assets/__BANTER_ASSET_VERSION__';
const CACHE = `banter-shell-${ASSETS.split('/').pop()}`;
// Every file the app needs to start offline (a server test checks that each
// module is listed).
const SHELL = [
  '/style.css',
  '/manifest.webmanifest',
  '/icons/icon-192.png',
  '/app/main.js',
  '/app/api.js',
  '/app/avatar.js',
  '/app/blocks.js',
  '/app/client.js',
  '/app/conversations.js',
  '/app/data-export.js',
  '/app/dom.js',
  '/app/drafts.js',
  '/app/format.js',
  '/app/history-cache.js',
  '/app/icons.js',
  '/app/message-text.js',
  '/app/notify.js',
  '/app/outbox.js',
  '/app/push.js',
  '/app/receipts.js',
  '/app/router.js',
  '/app/seen-tracker.js',
  '/app/session.js',
  '/app/shortcuts.js',
  '/app/socket.js',
  '/app/event-stream.js',
  '/app/store.js',
  '/app/timeline.js',
  '/app/views/account.js',
  '/app/views/auth.js',
  '/app/views/chat.js',
  '/app/views/composer.js',
  '/app/views/confirm.js',
  '/app/views/conversation-list.js',
  '/app/views/dialogs.js',
  '/app/views/help.js',
  '/app/views/message-log.js',
  '/app/views/message-row.js',
  '/app/views/message-search.js',
  '/app/views/shell.js',
];

self.addEventListener('install', (event) => {
  const requests = ['/', ...SHELL.map((path) => ASSETS + path)].map((url) => new Request(url, { cache: 'force-cache' }));
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(requests))
      .catch(() => {}) // offline at install: the next visit fills the cache
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function remember(request, response) {
  if (response.ok) {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname.startsWith(ASSETS + '/')) {
    // Immutable: the cached copy is the right one.
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request).then((r) => remember(request, r))));
    return;
  }
  const keep = url.pathname === '/' || SHELL.includes(url.pathname);
  event.respondWith(
    fetch(request)
      .then((response) => (keep ? remember(request, response) : response))
      .catch(async () => (await caches.match(request)) || (request.mode === 'navigate' ? caches.match('/') : Response.error())),
  );
});

self.addEventListener('push', (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = { preview: event.data ? event.data.text() : '' };
  }
  const { title, options } = notificationFromPush(payload);
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      // The user is looking at this conversation right now: no notification.
      const looking = windows.some((w) => w.visibilityState === 'visible' && w.focused && new URL(w.url).pathname === options.data.url);
      if (looking) return undefined;
      return self.registration.showNotification(title, options);
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data?.url || '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (windows) => {
      const existing = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (existing) {
        existing.postMessage({ type: 'open', url });
        await existing.focus().catch(() => {});
        return;
      }
      await self.clients.openWindow(url);
    }),
  );
});
