// Replies, edits and deletes in the web client, between two people each in
// their own browser context, and a device that was away catching up.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, messageTexts, openConversation, send, setup, startChat } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Hovers a message and presses one of its tools (Reply, Edit, Delete). */
async function tool(page, text, name) {
  const row = messages(page, text);
  await row.hover();
  await row.getByRole('button', { name, exact: true }).click();
}

test('a reply quotes the message, and the quote jumps to it', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'Dinner on Friday?');
  for (let i = 1; i <= 40; i++) await send(alice, `filler ${i}`);
  await messages(alice, 'filler 40').waitFor();
  await openConversation(bob, alice.username);
  await messages(bob, 'filler 40').waitFor();

  // Bob replies to the first message (scrolled up to it).
  await messages(bob, 'Dinner on Friday?').scrollIntoViewIfNeeded();
  await tool(bob, 'Dinner on Friday?', 'Reply');
  assert.match(await bob.locator('#composer-context').textContent(), /Replying to .*Dinner on Friday\?/);
  await send(bob, 'Yes, at 8!');
  await bob.locator('#composer-context').waitFor({ state: 'hidden' });

  // Alice sees the reply with its quote; pressing the quote brings the
  // quoted message into view and highlights it.
  const reply = messages(alice, 'Yes, at 8!');
  await reply.waitFor();
  const quote = reply.locator('.quote');
  assert.match(await quote.textContent(), /Dinner on Friday\?/);
  assert.equal(await alice.locator('#messages li.msg.highlight').count(), 0);
  await quote.click();
  const target = alice.locator('#messages li.msg.highlight');
  await target.waitFor();
  assert.match(await target.locator('p.text').textContent(), /Dinner on Friday\?/);
  assert.ok(await target.isVisible());
  const box = await target.boundingBox();
  const log = await alice.locator('.log').boundingBox();
  assert.ok(box.y >= log.y && box.y + box.height <= log.y + log.height, 'the quoted message is scrolled into view');
});

test('an edit shows live as "edited", and a device that was away gets it too', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'See you at 5');
  await openConversation(bob, alice.username);
  await messages(bob, 'See you at 5').waitFor();

  // Bob's second device (a new context logged into his account) goes away.
  const laptopContext = await world.context();
  const laptop = await laptopContext.newPage();
  await laptop.goto(world.url);
  await laptop.fill('#auth-username', bob.username);
  await laptop.fill('#auth-password', 'correct horse battery staple');
  await laptop.getByRole('button', { name: 'Log in' }).click();
  await openConversation(laptop, alice.username);
  await messages(laptop, 'See you at 5').waitFor();
  await laptopContext.setOffline(true);

  await tool(alice, 'See you at 5', 'Edit');
  assert.equal(await alice.locator('#composer-input').inputValue(), 'See you at 5');
  assert.match(await alice.locator('#composer-context').textContent(), /Editing message/);
  await alice.fill('#composer-input', 'See you at 6');
  await alice.press('#composer-input', 'Enter');

  for (const page of [alice, bob]) {
    const row = messages(page, 'See you at 6');
    await row.waitFor();
    await row.locator('.edited').waitFor();
    assert.deepEqual(await messageTexts(page), ['See you at 6'], 'the edit is not a message of its own');
  }
  // Bob's list shows nothing unread for the edit.
  await bob.locator('.conv-item', { hasText: alice.username }).locator('.badge').waitFor({ state: 'hidden' });

  await laptopContext.setOffline(false);
  const row = messages(laptop, 'See you at 6');
  await row.waitFor({ timeout: 30_000 });
  await row.locator('.edited').waitFor();
});

test('a delete leaves a tombstone for everyone, after a confirmation', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'oops, wrong chat');
  await send(alice, 'hello');
  await openConversation(bob, alice.username);
  await messages(bob, 'oops, wrong chat').waitFor();
  // Bob has no Edit or Delete on Alice's message, only Reply.
  await messages(bob, 'oops, wrong chat').hover();
  assert.equal(await messages(bob, 'oops, wrong chat').getByRole('button', { name: 'Edit', exact: true }).count(), 0);

  await tool(alice, 'oops, wrong chat', 'Delete for everyone');
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Delete' }).click();
  for (const page of [alice, bob]) {
    await page.locator('#messages li.msg.deleted', { hasText: 'This message was deleted' }).waitFor();
    assert.deepEqual(await messageTexts(page), ['This message was deleted', 'hello']);
  }
  // Nothing of the text is left in the page, even after a reload.
  await bob.reload();
  await messages(bob, 'hello').waitFor();
  assert.ok(!(await bob.content()).includes('wrong chat'));
});

test('an edit the server refuses says why: the message was deleted from another tab meanwhile', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'draft plan');
  await messages(alice, 'draft plan').waitFor();
  // A second tab of the same device: it starts editing…
  const tab = await alice.context().newPage();
  await tab.goto(alice.url());
  await messages(tab, 'draft plan').waitFor();
  await tool(tab, 'draft plan', 'Edit');
  await tab.fill('#composer-input', 'final plan');
  // …while the first tab deletes the message.
  await tool(alice, 'draft plan', 'Delete for everyone');
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Delete' }).click();
  await tab.locator('#messages li.msg.deleted').waitFor();
  await tab.press('#composer-input', 'Enter');
  await tab.locator('#notice', { hasText: /could not be edited: .*deleted/ }).waitFor();
  assert.deepEqual(await messageTexts(tab), ['This message was deleted']);
  // Escape gives the draft back after cancelling an edit.
  await send(tab, 'half-typed');
  await messages(tab, 'half-typed').waitFor();
  await tab.fill('#composer-input', 'my draft');
  await tool(tab, 'half-typed', 'Edit');
  assert.equal(await tab.locator('#composer-input').inputValue(), 'half-typed');
  await tab.press('#composer-input', 'Escape');
  assert.equal(await tab.locator('#composer-input').inputValue(), 'my draft');
});
