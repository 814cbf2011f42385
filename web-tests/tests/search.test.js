// Search in the web client: "Find a chat" also searches the messages of
// every conversation; a result shows its snippet with the words marked (as
// text, never HTML) and opens the chat at that message.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGroup, messages, send, setup, startChat } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

test('a word typed in the filter finds messages, and a result opens the chat at the message', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'The Café on <b>Main</b> street opens at nine');
  for (let i = 1; i <= 40; i++) await send(alice, `filler ${i}`);
  await messages(alice, 'filler 40').waitFor();

  // Bob has not opened the chat: he finds the message by a word, accents
  // and case ignored.
  await bob.fill('#conversation-filter', 'cafe');
  const hit = bob.locator('#message-search-results .search-hit');
  await hit.first().waitFor();
  assert.equal(await hit.count(), 1);
  assert.equal(await hit.locator('mark').textContent(), 'Café');
  assert.match(await hit.textContent(), /<b>Main<\/b> street/, 'the text is shown as typed, not as HTML');
  assert.equal(await bob.locator('#message-search-results b').count(), 0);

  await hit.click();
  const target = bob.locator('#messages li.msg.highlight');
  await target.waitFor();
  assert.match(await target.locator('p.text').textContent(), /The Café on/);
  const box = await target.boundingBox();
  const log = await bob.locator('.log').boundingBox();
  assert.ok(box.y >= log.y && box.y + box.height <= log.y + log.height, 'the found message is scrolled into view');
});

test('words of any script are found; nothing found says so; clearing the filter hides the results', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, '我们明天在东京见面');
  await messages(alice, '我们明天在东京见面').waitFor();

  await alice.fill('#conversation-filter', '东京');
  const hit = alice.locator('#message-search-results .search-hit');
  await hit.first().waitFor();
  assert.equal(await hit.locator('mark').textContent(), '东京');

  await alice.fill('#conversation-filter', 'zebra');
  await alice.locator('#message-search', { hasText: 'No message contains “zebra”.' }).waitFor();
  assert.equal(await hit.count(), 0);

  await alice.press('#conversation-filter', 'Escape');
  await alice.locator('#message-search').waitFor({ state: 'hidden' });
});

test('the chat filter matches names without their accents', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await createGroup(alice, 'Crème Brûlée Club', [bob.username]);
  await alice.locator('.conv-item', { hasText: 'Crème Brûlée Club' }).waitFor();

  await alice.fill('#conversation-filter', 'creme brulee');
  await alice.locator('.conv-item', { hasText: 'Crème Brûlée Club' }).waitFor();
  assert.equal(await alice.locator('.conv-item').count(), 1);
});
