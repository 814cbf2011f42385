// How the web client's files travel: on a first visit each file crosses the
// network once (the service worker precaches from the HTTP cache instead of
// downloading the shell again), compressed, from fingerprinted URLs that a
// later visit takes from the cache without asking.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setup, signup, username } from '../lib/app.js';
import { startCountingProxy } from '../lib/counting-proxy.js';

let world;
let proxy;
before(async () => {
  world = await setup();
  proxy = await startCountingProxy(world.url);
});
after(async () => {
  await proxy?.close();
  await world?.close();
});

const isFile = (r) => r.method === 'GET' && !r.path.startsWith('/api/');

/** Waits until the service worker has precached the shell. */
async function shellPrecached(page) {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (registration.active?.state === 'activated') {
        const names = await caches.keys();
        const keys = names.length ? await (await caches.open(names[0])).keys() : [];
        if (keys.some((k) => k.url.endsWith('/app/views/shell.js'))) return keys.map((k) => new URL(k.url).pathname);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return [];
  });
}

test('a first visit downloads each file once, service worker included', async () => {
  const context = await world.context();
  const page = await context.newPage();
  const encodings = new Map();
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.endsWith('.js') || path.endsWith('.css')) encodings.set(path, r.headers()['content-encoding']);
  });
  await page.goto(proxy.url);
  await page.locator('#auth-username').waitFor();
  const cached = await shellPrecached(page);
  assert.ok(cached.includes('/'), `the app shell is precached: ${cached.join(' ')}`);
  assert.ok(cached.some((p) => /^\/assets\/[0-9a-f]+\/app\/main\.js$/.test(p)), `under the fingerprinted URLs: ${cached.join(' ')}`);

  const files = proxy.requests.filter(isFile).map((r) => r.path);
  const counts = new Map();
  for (const path of files) counts.set(path, (counts.get(path) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], `downloaded more than once: ${JSON.stringify(twice)}`);
  // Everything the service worker holds came over the network exactly once.
  for (const path of cached) assert.equal(counts.get(path), 1, `${path} was downloaded once`);
  // The page's scripts and styles came compressed.
  assert.ok(encodings.size > 10, `scripts seen: ${[...encodings.keys()].join(' ')}`);
  for (const [path, encoding] of encodings) assert.equal(encoding, 'br', `${path} is brotli`);
});

test('a second visit asks the network for the entry point only', async () => {
  const context = await world.context();
  const page = await context.newPage();
  await page.goto(proxy.url);
  await signup(page, username('again'));
  await shellPrecached(page);
  const before = proxy.requests.length;
  await page.reload();
  await page.locator('#me-name').waitFor();
  const files = proxy.requests.slice(before).filter(isFile).map((r) => r.path);
  // The page's assets are immutable (HTTP cache, or the service worker's).
  assert.deepEqual(files.filter((p) => p.startsWith('/assets/')), [], `assets asked again: ${files.join(' ')}`);
});
