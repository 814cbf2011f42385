// Blocking and leaving for good in the web client, between people each in
// their own browser context against the real server: a block from the chat
// header (the blocked side's sends are refused and say so, the blocker gets
// a line with Unblock instead of the composer), the blocked users in
// settings, "Download my data" (every export page in one JSON file), and
// deleting the account (the password checked; the peer sees "Deleted user").

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { login, messages, openConversation, PASSWORD, send, setup, startChat, waitOnline } from '../lib/app.js';
import { conversationIdOf, seedMessages } from '../lib/seed.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Blocks the peer of the open 1:1 chat through the header button and its confirmation. */
async function blockFromHeader(page) {
  await page.getByRole('button', { name: 'Block', exact: true }).click();
  await page.locator('#confirm-dialog').getByRole('button', { name: 'Block', exact: true }).click();
  await page.locator('#blocked-line').waitFor();
}

async function openSettings(page) {
  await page.click('#settings-button');
  await page.locator('#settings-dialog[open]').waitFor();
}

test('a block from the chat header refuses the peer’s sends, and unblocking restores sending both ways', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'Hi Bob');
  await openConversation(bob, alice.username);
  await messages(bob, 'Hi Bob').waitFor();

  // Cancel in the confirmation changes nothing.
  await alice.getByRole('button', { name: 'Block', exact: true }).click();
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.ok(await alice.locator('#composer-input').isVisible());
  assert.ok(await alice.locator('#blocked-line').isHidden());

  await blockFromHeader(alice);
  assert.equal(await alice.locator('#blocked-text').textContent(), `You blocked ${bob.username}. Unblock to send messages.`);
  assert.ok(await alice.locator('#composer-input').isHidden(), 'no composer while blocked');
  assert.ok(await alice.getByRole('button', { name: 'Block', exact: true }).isHidden());

  // Bob's send is refused: the message says it was not sent, and why.
  await send(bob, 'Are you there?');
  const refused = messages(bob, 'Are you there?');
  await refused.locator('.failed-reason').waitFor();
  assert.match(await refused.locator('.failed-reason').textContent(), /^Not sent: .*block/);
  assert.equal(await refused.getAttribute('data-status'), 'failed');
  assert.equal(await messages(alice, 'Are you there?').count(), 0);

  // Unblocked: Alice's composer is back and both sides can send again;
  // Bob's refused message goes through on Retry.
  await alice.getByRole('button', { name: 'Unblock', exact: true }).click();
  await alice.locator('#blocked-line').waitFor({ state: 'hidden' });
  await alice.locator('#composer-input').waitFor();
  await send(alice, 'Sorry, I am back');
  await messages(bob, 'Sorry, I am back').waitFor();
  await refused.getByRole('button', { name: 'Retry' }).click();
  await messages(alice, 'Are you there?').waitFor();
  await send(bob, 'Welcome back');
  await messages(alice, 'Welcome back').waitFor();
  assert.equal(await bob.locator('#messages .failed-reason').count(), 0);
});

test('a block made on one device shows on my other device at once, and so does the unblock', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  const carol = await world.user('carol');
  await startChat(alice, bob.username);
  await send(alice, 'Hi Bob');

  // Alice's laptop: another context logged into her account, Bob's chat open.
  const laptopContext = await world.context();
  const laptop = await laptopContext.newPage();
  await laptop.goto(world.url);
  await login(laptop, alice.username);
  await openConversation(laptop, bob.username);
  await messages(laptop, 'Hi Bob').waitFor();

  await blockFromHeader(alice);
  await laptop.locator('#blocked-line').waitFor();
  assert.ok(await laptop.locator('#composer-input').isHidden(), 'no composer on the laptop either');
  await alice.getByRole('button', { name: 'Unblock', exact: true }).click();
  await laptop.locator('#blocked-line').waitFor({ state: 'hidden' });
  await laptop.locator('#composer-input').waitFor();

  // Someone the laptop has never seen: it reads the list again.
  await startChat(alice, carol.username);
  await blockFromHeader(alice);
  await openSettings(laptop);
  await laptop.locator('#blocked-list li', { hasText: carol.username }).waitFor();
});

test('settings list the blocked users, most recent first, and Unblock there lifts a block', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  const carol = await world.user('carol');
  await openSettings(alice);
  await alice.locator('#blocked-empty').waitFor();
  await alice.getByRole('button', { name: 'Close' }).click();

  await startChat(alice, bob.username);
  await blockFromHeader(alice);
  await startChat(alice, carol.username);
  await blockFromHeader(alice);

  // After a reload the list comes from the server (GET /blocks).
  await alice.reload();
  await waitOnline(alice);
  await openSettings(alice);
  const rows = alice.locator('#blocked-list li');
  await rows.nth(1).waitFor();
  assert.deepEqual(await rows.locator('.member-sub').allTextContents(), [`@${carol.username}`, `@${bob.username}`]);
  assert.ok(await alice.locator('#blocked-empty').isHidden());

  await alice.getByRole('button', { name: `Unblock ${carol.username}` }).click();
  await rows.nth(1).waitFor({ state: 'detached' });
  assert.deepEqual(await rows.locator('.member-sub').allTextContents(), [`@${bob.username}`]);
  await alice.getByRole('button', { name: 'Close' }).click();

  // Carol's chat takes messages again, Bob's does not.
  await openConversation(alice, carol.username);
  await alice.locator('#composer-input').waitFor();
  await send(alice, 'Hello again, Carol');
  await openConversation(carol, alice.username);
  await messages(carol, 'Hello again, Carol').waitFor();
  await openConversation(alice, bob.username);
  await alice.locator('#blocked-line').waitFor();
});

test('"Download my data" saves one JSON file with my profile and every message I sent, across export pages', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'The first thing I said');
  await openConversation(bob, alice.username);
  await messages(bob, 'The first thing I said').waitFor(); // stored: seq 1
  // Past one page (at most 500 messages).
  await seedMessages(alice, conversationIdOf(alice), 620, { prefix: 'seeded' });
  await send(bob, 'Not Alice’s to export');
  await messages(alice, 'Not Alice’s to export').waitFor();

  await openSettings(alice);
  const [download] = await Promise.all([alice.waitForEvent('download'), alice.getByRole('button', { name: 'Download my data' }).click()]);
  assert.match(download.suggestedFilename(), new RegExp(`^banter-${alice.username}-\\d{4}-\\d{2}-\\d{2}\\.json$`));
  const data = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(data.user.username, alice.username);
  const texts = data.messages.map((m) => m.text);
  assert.equal(texts.length, 621);
  assert.equal(texts[0], 'The first thing I said');
  assert.equal(texts.at(-1), 'seeded 620');
  assert.ok(!texts.includes('Not Alice’s to export'));
  assert.ok(data.messages.every((m) => m.sender_id === data.user.id));
  assert.equal(new Set(data.messages.map((m) => m.seq)).size, 621, 'no page twice');
  await alice.locator('#export-status', { hasText: 'Saved: your profile and 621 messages.' }).waitFor();
});

test('deleting the account: a wrong password is refused, the right one signs out, and the peer sees "Deleted user"', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'Goodbye, Bob');
  await openConversation(bob, alice.username);
  await messages(bob, 'Goodbye, Bob').waitFor();

  await openSettings(alice);
  await alice.fill('#delete-password', 'not my password');
  await alice.getByRole('button', { name: 'Delete my account' }).click();
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Delete account' }).click();
  await alice.locator('#delete-error', { hasText: /password is wrong/ }).waitFor();
  assert.ok(await alice.locator('#me-name').isVisible(), 'still signed in');

  // Cancel in the confirmation keeps the account.
  await alice.fill('#delete-password', PASSWORD);
  await alice.getByRole('button', { name: 'Delete my account' }).click();
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.ok(await alice.locator('#settings-dialog[open]').isVisible());

  await alice.getByRole('button', { name: 'Delete my account' }).click();
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Delete account' }).click();
  await alice.locator('#auth-username').waitFor();
  const left = await alice.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('banter.') && !k.startsWith('banter.push')));
  assert.deepEqual(left, [], 'local data removed');
  // The account is gone: logging in again is refused.
  await alice.fill('#auth-username', alice.username);
  await alice.fill('#auth-password', PASSWORD);
  await alice.getByRole('button', { name: 'Log in' }).click();
  await alice.locator('#auth-error', { hasText: /./ }).waitFor();
  assert.equal(await alice.locator('#me-name').count(), 0);

  // Bob, without a reload (told by the server): the chat is "Deleted
  // user"'s, her message stays, and there is nothing to send to.
  await bob.locator('#chat-title', { hasText: 'Deleted user' }).waitFor();
  await messages(bob, 'Goodbye, Bob').waitFor();
  assert.equal(await bob.locator('#blocked-text').textContent(), 'This account was deleted.');
  assert.ok(await bob.locator('#composer-input').isHidden());
  assert.ok(await bob.getByRole('button', { name: 'Block', exact: true }).isHidden());
  await bob.locator('.conv-item', { hasText: 'Deleted user' }).waitFor();
});
