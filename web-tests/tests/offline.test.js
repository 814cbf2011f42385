// Losing the connection: the state shows, the client reconnects and
// catches up without duplicates, and a message typed while offline is sent
// once when the connection returns.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, messageTexts, openConversation, send, setup, startChat, waitOnline, logout } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

test('a message typed offline is sent once when the connection returns, and missed messages arrive', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'before');
  await openConversation(bob, alice.username);
  await messages(bob, 'before').waitFor();

  // The service worker has the app shell, so the app opens without network.
  await alice.waitForFunction(() => navigator.serviceWorker.controller !== null);
  for (let i = 0; i < 100; i++) {
    if (await alice.evaluate(async () => (await (await caches.open('banter-shell-v1')).keys()).length > 20)) break;
    await alice.waitForTimeout(100);
  }
  await alice.context().setOffline(true);
  await alice.locator('#connection-status[data-state=offline]').waitFor();
  assert.match(await alice.locator('#connection-status').textContent(), /Offline/);
  await send(alice, 'written offline');
  await alice.locator('#messages li.msg[data-status=pending]', { hasText: 'written offline' }).waitFor();
  await send(bob, 'while you were away');
  await bob.waitForTimeout(500);
  assert.equal(await messages(bob, 'written offline').count(), 0);

  // The pending message survives a reload while offline: the service worker
  // serves the app, the outbox keeps the message.
  await alice.reload();
  await alice.locator('#connection-status[data-state=offline]').waitFor();
  await alice.locator('#messages li.msg[data-status=pending]', { hasText: 'written offline' }).waitFor();
  await alice.context().setOffline(false);
  await waitOnline(alice);
  await messages(bob, 'written offline').waitFor();
  await messages(alice, 'while you were away').waitFor();
  await alice.locator('#messages li.msg[data-status=pending]').waitFor({ state: 'detached' });
  await bob.waitForTimeout(500);
  assert.deepEqual(await messageTexts(bob), ['before', 'while you were away', 'written offline']);
  assert.deepEqual(await messageTexts(alice), ['before', 'while you were away', 'written offline']);
});

test('a lost acknowledgement is retried with the same client_msg_id and stored once', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await openConversation(bob, alice.username);

  // Sit between Alice's page and the server; drop the first ack and cut
  // the connection, as if the network died just after the server stored it.
  let dropNextAck = true;
  const sentIds = [];
  await alice.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      const frame = JSON.parse(m);
      if (frame.type === 'send') sentIds.push(frame.client_msg_id);
      server.send(m);
    });
    server.onMessage((m) => {
      if (dropNextAck && JSON.parse(m).type === 'ack') {
        dropNextAck = false;
        ws.close({ code: 4500, reason: 'test: connection lost' });
        return;
      }
      ws.send(m);
    });
  });
  await alice.reload();
  await waitOnline(alice);
  await send(alice, 'exactly once');
  await messages(bob, 'exactly once').waitFor();
  // Reconnected, resent, acknowledged as a duplicate.
  await alice.locator('#messages li.msg[data-status=pending]').waitFor({ state: 'detached', timeout: 15_000 });
  assert.equal(sentIds.length, 2);
  assert.equal(sentIds[0], sentIds[1]);
  await bob.waitForTimeout(300);
  assert.deepEqual(await messageTexts(bob), ['exactly once']);
  assert.deepEqual(await messageTexts(alice), ['exactly once']);
});

test('an offline start shows the recent history of a conversation read before', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  for (const text of ['one', 'two', 'three']) await send(alice, text);
  await messages(alice, 'three').waitFor();
  await alice.waitForFunction(() => navigator.serviceWorker.controller !== null);
  for (let i = 0; i < 100; i++) {
    if (await alice.evaluate(async () => (await (await caches.open('banter-shell-v1')).keys()).length > 20)) break;
    await alice.waitForTimeout(100);
  }
  // The cache is written within a second of a change.
  await alice.waitForFunction(() =>
    Object.keys(localStorage).some((k) => /^banter\.history\.\d+\.\d+$/.test(k) && localStorage.getItem(k).includes('"three"')),
  );

  await alice.context().setOffline(true);
  await alice.reload();
  await alice.locator('#connection-status[data-state=offline]').waitFor();
  await messages(alice, 'three').waitFor();
  assert.deepEqual(await messageTexts(alice), ['one', 'two', 'three']);

  // Back online, what was missed meanwhile joins the cached messages once.
  await openConversation(bob, alice.username);
  await send(bob, 'four');
  await alice.context().setOffline(false);
  await waitOnline(alice);
  await messages(alice, 'four').waitFor();
  assert.deepEqual(await messageTexts(alice), ['one', 'two', 'three', 'four']);

  // Logging out removes the cached history from this browser.
  await logout(alice);
  await alice.locator('#auth-username').waitFor();
  assert.equal(await alice.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('banter.history')).length), 0);
});
