// Service worker: makes Banter installable and opens offline (app shell,
// network first so a deploy is picked up at once), and shows Web Push
// notifications; a click opens the conversation.

import { notificationFromPush } from './app/notify.js';

const CACHE = 'banter-shell-v1';
const SHELL = [
  '/',
  '/style.css',
  '/manifest.webmanifest',
  '/icons/icon-192.png',
  '/app/main.js',
  '/app/api.js',
  '/app/client.js',
  '/app/conversations.js',
  '/app/dom.js',
  '/app/format.js',
  '/app/history-cache.js',
  '/app/notify.js',
  '/app/outbox.js',
  '/app/push.js',
  '/app/receipts.js',
  '/app/router.js',
  '/app/session.js',
  '/app/socket.js',
  '/app/store.js',
  '/app/timeline.js',
  '/app/views/auth.js',
  '/app/views/chat.js',
  '/app/views/composer.js',
  '/app/views/conversation-list.js',
  '/app/views/dialogs.js',
  '/app/views/message-log.js',
  '/app/views/shell.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
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

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && SHELL.includes(url.pathname)) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
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
