// What the server sends for the web client (headers, fallback), and the PWA
// parts: manifest, icons, service worker, notifications from Web Push.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { send, setup, signup, startChat, username, logout } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/**
 * The first notification the page's service worker shows. Showing one goes
 * through the service worker, which on a loaded 2-core CI machine can take
 * seconds: poll up to 30 s. A poll that fails (the page's context being
 * replaced mid-call) is retried, not taken for "none shown".
 */
async function firstNotification(page) {
  const deadline = Date.now() + 30_000;
  let lastError = null;
  while (Date.now() < deadline) {
    try {
      const shown = await page.evaluate(async () => {
        const [n] = await (await navigator.serviceWorker.ready).getNotifications();
        return n ? { title: n.title, body: n.body, tag: n.tag, data: n.data } : null;
      });
      if (shown) return shown;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (lastError) console.error('last notification poll failed:', lastError.message);
  return null;
}

test('the app is served with a strict CSP, nosniff and no-cache; client routes fall back to it', async () => {
  const root = await fetch(world.url + '/');
  assert.equal(root.status, 200);
  assert.equal(root.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = root.headers.get('content-security-policy');
  for (const part of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self';", "img-src 'self' data:"]) {
    assert.ok(csp.includes(part), `CSP has ${part}: ${csp}`);
  }
  // WebSockets only to this server ('self' covers ws:/wss: on the same host).
  assert.ok(!/ws:|wss:/.test(csp), `no scheme-wide WebSocket sources: ${csp}`);
  assert.equal(root.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(root.headers.get('cache-control'), 'no-cache');

  const sw = await fetch(world.url + '/sw.js');
  assert.equal(sw.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(sw.headers.get('cache-control'), 'no-cache');

  const route = await fetch(world.url + '/c/12345');
  assert.equal(route.status, 200);
  assert.match(await route.text(), /<div id="app">/);
  assert.equal((await fetch(world.url + '/app/no-such-module.js')).status, 404);

  const api = await fetch(world.url + '/api/v1/no-such-endpoint');
  assert.equal(api.status, 404);
  assert.equal((await api.json()).code, 'not_found');
});

test('the manifest and its icons make the app installable', async () => {
  const manifest = await (await fetch(world.url + '/manifest.webmanifest')).json();
  assert.equal(manifest.display, 'standalone');
  assert.equal(manifest.start_url, '/');
  const sizes = manifest.icons.map((i) => i.sizes);
  assert.ok(sizes.includes('192x192') && sizes.includes('512x512'));
  assert.ok(manifest.icons.some((i) => i.purpose === 'maskable'));
  for (const icon of manifest.icons) {
    const r = await fetch(world.url + icon.src);
    assert.equal(r.status, 200, icon.src);
    assert.equal(r.headers.get('content-type'), 'image/png');
    const bytes = new Uint8Array(await r.arrayBuffer());
    const [w, h] = icon.sizes.split('x').map(Number);
    const view = new DataView(bytes.buffer);
    assert.deepEqual([view.getUint32(16), view.getUint32(20)], [w, h], `${icon.src} is ${icon.sizes}`);
  }
});

test('the service worker shows a pushed message as a notification, and a click opens the conversation', async () => {
  const context = await world.context();
  await context.grantPermissions(['notifications'], { origin: world.url });
  const page = await context.newPage();
  await page.goto(world.url);
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  assert.equal(scope, world.url + '/');

  // Deliver a push the way the browser's push service would.
  const cdp = await context.newCDPSession(page);
  const registrationId = await new Promise((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((x) => x.scopeURL === world.url + '/' && !x.isDeleted);
      if (r) resolve(r.registrationId);
    });
    cdp.send('ServiceWorker.enable');
  });
  const payload = { type: 'message', conversation_id: 42, seq: 7, sender_id: 2, sender_name: 'Bob', conversation_name: 'Trip planning', preview: 'See you <b>there</b>' };
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: world.url + '/', registrationId, data: JSON.stringify(payload) });
  const shown = await firstNotification(page);
  assert.deepEqual(shown, {
    title: 'Bob in Trip planning',
    body: 'See you <b>there</b>',
    tag: 'conversation-42',
    data: { url: '/c/42', conversation_id: 42 },
  });

  // Clicking it brings the app to that conversation.
  const [worker] = context.serviceWorkers();
  await worker.evaluate(async () => {
    const [notification] = await self.registration.getNotifications();
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification }));
  });
  await page.waitForURL(world.url + '/c/42');
});

test('a push for a direct message is titled with the sender', async () => {
  const page = await (await world.context()).newPage();
  await page.goto(world.url);
  const n = await page.evaluate(async () => {
    const { notificationFromPush } = await import('/app/notify.js');
    return notificationFromPush({ type: 'message', conversation_id: 5, seq: 1, sender_id: 1, sender_name: 'Alice', conversation_name: null, preview: 'hi' });
  });
  assert.equal(n.title, 'Alice');
  assert.equal(n.options.body, 'hi');
  assert.equal(n.options.data.url, '/c/5');
});

test('with notifications allowed, the device registers its push subscription, and logout removes it', async () => {
  // Headless Chromium has no push service; stand in for the browser's
  // PushManager with a subscription holding a real P-256 key.
  const { generateKeyPairSync, randomBytes } = await import('node:crypto');
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
  const fake = { endpoint: 'https://push.invalid/banter-web-test', expirationTime: null, keys: { p256dh: raw.toString('base64url'), auth: randomBytes(16).toString('base64url') } };
  const context = await world.context();
  await context.grantPermissions(['notifications'], { origin: world.url });
  await context.addInitScript((sub) => {
    PushManager.prototype.getSubscription = async () => null;
    PushManager.prototype.subscribe = async function (options) {
      window.subscribedWithKeyBytes = new Uint8Array(options.applicationServerKey).length;
      return { toJSON: () => sub, unsubscribe: async () => true };
    };
  }, fake);
  const page = await context.newPage();
  await page.goto(world.url);
  const registered = page.waitForResponse((r) => r.url().endsWith('/api/v1/push/subscriptions') && r.request().method() === 'POST');
  await signup(page, username('pushy'));
  assert.equal((await registered).status(), 201);
  assert.equal(await page.evaluate(() => window.subscribedWithKeyBytes), 65);
  // Permission already granted: no prompt banner.
  assert.equal(await page.locator('#push-banner').isVisible(), false);

  const removed = page.waitForResponse((r) => r.url().endsWith('/api/v1/push/subscriptions') && r.request().method() === 'DELETE');
  await logout(page);
  assert.equal((await removed).status(), 204);
});

test('the notification prompt can be dismissed for good', async () => {
  const page = await (await world.context()).newPage();
  await page.goto(world.url);
  await signup(page, username('quiet'));
  await page.locator('#push-banner').waitFor();
  await page.getByRole('button', { name: 'Not now' }).click();
  await page.locator('#push-banner').waitFor({ state: 'hidden' });
  await page.reload();
  await page.locator('#me-name').waitFor();
  assert.equal(await page.locator('#push-banner').isVisible(), false);
});

test('a message arriving while the app is in the background shows a notification', async () => {
  const context = await world.context();
  await context.grantPermissions(['notifications'], { origin: world.url });
  // Let the test say when the page counts as hidden.
  await context.addInitScript(() => {
    Object.defineProperty(document, 'visibilityState', { get: () => (window.testHidden ? 'hidden' : 'visible') });
  });
  const alice = await context.newPage();
  await alice.goto(world.url);
  const aliceName = username('alice');
  await signup(alice, aliceName);
  const bob = await world.user('bob');
  await startChat(bob, aliceName);
  await alice.locator('.conv-item').waitFor();
  await alice.evaluate(() => navigator.serviceWorker.ready);
  await alice.evaluate(() => (window.testHidden = true));
  await send(bob, 'are you there?');
  // First the live frame reaches the page (the list shows it), then the
  // page has the service worker show the notification.
  await alice.locator('.conv-item', { hasText: 'are you there?' }).waitFor();
  const shown = await firstNotification(alice);
  assert.deepEqual(shown && { title: shown.title, body: shown.body }, { title: bob.username, body: 'are you there?' });
});

test('a denied notification permission says notifications are blocked and how to allow them, until dismissed', async () => {
  const context = await world.context();
  // The person answers "Block" to the browser's prompt.
  await context.addInitScript(() => {
    let permission = localStorage.getItem('test.permission') || 'default';
    Object.defineProperty(Notification, 'permission', { get: () => permission });
    Notification.requestPermission = async () => {
      permission = 'denied';
      localStorage.setItem('test.permission', permission);
      return permission;
    };
  });
  const page = await context.newPage();
  await page.goto(world.url);
  await signup(page, username('blocked'));
  await page.locator('#push-banner').waitFor();
  await page.locator('#push-banner').getByRole('button', { name: 'Enable' }).click();
  const blocked = page.locator('#push-blocked');
  await blocked.waitFor();
  assert.match(await blocked.textContent(), /Notifications are blocked.*allow notifications in your browser’s site settings/);
  assert.equal(await page.locator('#push-banner').isVisible(), false);
  await blocked.getByRole('button', { name: 'Dismiss' }).click();
  await blocked.waitFor({ state: 'hidden' });
  await page.reload();
  await page.locator('#me-name').waitFor();
  assert.equal(await page.evaluate(() => Notification.permission), 'denied');
  assert.equal(await blocked.isVisible(), false);
});
