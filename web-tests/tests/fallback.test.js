// Where a proxy refuses WebSocket upgrades (as some corporate proxies do),
// the app moves to the fallback transport by itself — the event stream and
// POSTs — and everything works over it: live messages both ways, sync
// after a gap. Once upgrades pass again, it moves back to a WebSocket. A
// proxy that lets WebSockets open and cuts them soon after is treated the
// same, after three such cuts.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, openConversation, send, setup, signup, startChat, username, waitOnline } from '../lib/app.js';
import { startCountingProxy } from '../lib/counting-proxy.js';

let world;
let proxy;
before(async () => {
  world = await setup();
  proxy = await startCountingProxy(world.url, { refuseUpgrades: true });
});
after(async () => {
  await proxy?.close();
  await world?.close();
});

const transportOf = (page) => page.locator('#connection-status').getAttribute('data-transport');

test('behind a proxy that refuses WebSocket upgrades, the app chats over the fallback and moves back once upgrades pass', async () => {
  // Alice's network goes through the proxy; Bob's does not.
  const context = await world.context();
  const alice = await context.newPage();
  alice.username = username('alice');
  await alice.goto(proxy.url);
  await signup(alice, alice.username);
  const bob = await world.user('bob');
  await waitOnline(alice);
  assert.equal(await transportOf(alice), 'events');
  assert.equal(await transportOf(bob), 'websocket');
  assert.ok(proxy.upgradesRefused > 0, 'the WebSocket was tried first');

  // Live, both ways, in order.
  await startChat(alice, bob.username);
  await send(alice, 'hello from behind the proxy');
  await openConversation(bob, alice.username);
  await messages(bob, 'hello from behind the proxy').waitFor();
  for (const text of ['one', 'two', 'three']) await send(bob, text);
  await messages(alice, 'three').waitFor();
  const texts = await alice.locator('#messages li.msg p.text').allTextContents();
  assert.deepEqual(texts.slice(-4), ['hello from behind the proxy', 'one', 'two', 'three']);
  assert.ok(proxy.requests.some((r) => r.method === 'POST' && r.path.startsWith('/api/v1/events/')), 'frames went up as POSTs');

  // Away and back: what was sent meanwhile comes by sync over the fallback.
  await context.setOffline(true);
  await send(bob, 'while you were away');
  await context.setOffline(false);
  await messages(alice, 'while you were away').waitFor();
  await waitOnline(alice);

  // Upgrades pass again; the next network change brings the WebSocket back.
  proxy.refuseUpgrades = false;
  await context.setOffline(true);
  await context.setOffline(false);
  await alice.waitForFunction(() => document.querySelector('#connection-status')?.dataset.transport === 'websocket');
  await waitOnline(alice);
  await send(alice, 'back on a WebSocket');
  await messages(bob, 'back on a WebSocket').waitFor();
});

test('behind a proxy that lets WebSockets open and then cuts them, the app moves to the fallback after three', async () => {
  const cutting = await startCountingProxy(world.url, { cutUpgradesAfterMs: 1500 });
  try {
    const context = await world.context();
    const carol = await context.newPage();
    carol.username = username('carol');
    await carol.goto(cutting.url);
    await signup(carol, carol.username);
    await carol.waitForFunction(() => document.querySelector('#connection-status')?.dataset.transport === 'events', null, { timeout: 60_000 });
    assert.ok(cutting.upgradesCut >= 3, `${cutting.upgradesCut} WebSockets cut before the fallback`);
    await waitOnline(carol);
    const dave = await world.user('dave');
    await startChat(carol, dave.username);
    await send(carol, 'past the cutting proxy');
    await openConversation(dave, carol.username);
    await messages(dave, 'past the cutting proxy').waitFor();
  } finally {
    await cutting.close();
  }
});
