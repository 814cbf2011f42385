// The session: it survives a reload, two tabs of one account stay in sync,
// and logging out ends it everywhere in this browser.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { login, messages, messageTexts, openConversation, send, setup, startChat, waitOnline, logout } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

test('a reload keeps the session, the open conversation and its history', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'first');
  await send(alice, 'second');
  await openConversation(bob, alice.username);
  await send(bob, 'third');
  await messages(alice, 'third').waitFor();
  const url = alice.url();

  await alice.reload();
  await waitOnline(alice);
  assert.equal(alice.url(), url);
  assert.equal(await alice.locator('#me-name').textContent(), alice.username);
  await messages(alice, 'third').waitFor();
  assert.deepEqual(await messageTexts(alice), ['first', 'second', 'third']);
  assert.equal(await alice.locator('.conv-item').count(), 1);
});

test('two tabs of the same account stay in sync', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'from tab one');
  const tab2 = await alice.context().newPage();
  await tab2.goto(world.url);
  await waitOnline(tab2);
  await openConversation(tab2, bob.username);
  await messages(tab2, 'from tab one').waitFor();

  // A message sent in one tab shows in the other, and so does the reply.
  await send(tab2, 'from tab two');
  await messages(alice, 'from tab two').waitFor();
  await openConversation(bob, alice.username);
  await send(bob, 'reply');
  await messages(alice, 'reply').waitFor();
  await messages(tab2, 'reply').waitFor();
  assert.deepEqual(await messageTexts(alice), ['from tab one', 'from tab two', 'reply']);
  assert.deepEqual(await messageTexts(tab2), ['from tab one', 'from tab two', 'reply']);

  // Reading in one tab clears the unread badge in the other.
  await alice.goto(world.url + '/');
  await waitOnline(alice);
  await send(bob, 'unread?');
  const badge = alice.locator('.conv-item .badge');
  await badge.waitFor();
  await messages(tab2, 'unread?').waitFor(); // tab2 has the chat open: it reads it
  await badge.waitFor({ state: 'hidden' });

  // Logging out in one tab logs out the other.
  await logout(tab2);
  await tab2.locator('#auth-username').waitFor();
  await alice.locator('#auth-username').waitFor();

  // Logging in again (a new device) brings the history back.
  await login(alice, alice.username);
  await openConversation(alice, bob.username);
  await messages(alice, 'unread?').waitFor();
  assert.deepEqual(await messageTexts(alice), ['from tab one', 'from tab two', 'reply', 'unread?']);
});

test('a wrong password is refused with a message', async () => {
  const alice = await world.user('alice');
  await logout(alice);
  await alice.fill('#auth-username', alice.username);
  await alice.fill('#auth-password', 'not the password');
  await alice.getByRole('button', { name: 'Log in' }).click();
  await alice.locator('#auth-error', { hasText: /./ }).waitFor();
  assert.equal(await alice.locator('#me-name').count(), 0);
});

test('two devices of the same account stay in sync', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  const laptop = await (await world.context()).newPage();
  await laptop.goto(world.url);
  await login(laptop, alice.username);
  await startChat(alice, bob.username);
  await send(alice, 'from the phone');
  // The other device learns of the new conversation and its message live.
  await laptop.locator('.conv-item', { hasText: bob.username }).waitFor();
  await openConversation(laptop, bob.username);
  await messages(laptop, 'from the phone').waitFor();
  await send(laptop, 'from the laptop');
  await messages(alice, 'from the laptop').waitFor();
  await openConversation(bob, alice.username);
  await messages(bob, 'from the laptop').waitFor();
  assert.deepEqual(await messageTexts(bob), ['from the phone', 'from the laptop']);
  assert.deepEqual(await messageTexts(laptop), ['from the phone', 'from the laptop']);
  // Bob's reply reaches both devices.
  await send(bob, 'got both');
  await messages(alice, 'got both').waitFor();
  await messages(laptop, 'got both').waitFor();
});

test('a start fetches the conversation list once, not once per path', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const listFetches = [];
  alice.on('request', (r) => {
    if (r.method() === 'GET' && new URL(r.url()).pathname === '/api/v1/conversations') listFetches.push(r.url());
  });
  await alice.reload();
  await waitOnline(alice);
  await alice.locator('.conv-item', { hasText: bob.username }).waitFor();
  // Past the HTTP fallback's moment (3 s after start without a socket):
  // with the socket up, it must not have fetched a second time.
  await alice.waitForTimeout(3500);
  assert.equal(listFetches.length, 1, listFetches.join(', '));
});
