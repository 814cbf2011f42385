// Opening a chat with unread messages: the "N unread messages" divider sits
// above the first of them and the chat opens there, the read marker moves
// only as far as what was on screen, and the jump buttons take the reader
// to the newest message (counting what is below) and back to the divider.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chatOpened, messages, openConversation, setup, startChat } from '../lib/app.js';
import { conversationIdOf, seedMessages, serverReadSeq } from '../lib/seed.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Polls the server until `ok(read_seq)`; returns the last value. */
async function waitReadSeq(page, id, ok) {
  for (let i = 0; i < 100; i++) {
    const seq = await serverReadSeq(page, id);
    if (ok(seq)) return seq;
    await page.waitForTimeout(100);
  }
  return serverReadSeq(page, id);
}

/** Seqs of the message rows that are at least half inside the log's viewport. */
const visibleSeqs = (page) =>
  page.locator('.log').evaluate((log) => {
    const view = log.getBoundingClientRect();
    return [...log.querySelectorAll('li.msg')]
      .filter((r) => {
        const b = r.getBoundingClientRect();
        return Math.min(b.bottom, view.bottom) - Math.max(b.top, view.top) >= b.height / 2;
      })
      .map((r) => Number(r.dataset.seq));
  });

test('a chat opens at the unread divider, marks read only what was seen, and the jump buttons work', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob', { viewport: { width: 1100, height: 600 } });
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);

  // Bob reads the first 30 messages…
  await seedMessages(alice, id, 30);
  await openConversation(bob, alice.username);
  await messages(bob, 'message 30').waitFor();
  await chatOpened(bob);
  await bob.locator('.log').evaluate((el) => (el.scrollTop = el.scrollHeight));
  assert.equal(await waitReadSeq(bob, id, (s) => s === 30), 30);
  // …leaves the chat, and 25 more arrive.
  await bob.goto(world.url);
  await bob.locator('.conv-item').first().waitFor();
  await seedMessages(alice, id, 25, { prefix: 'later' });
  await bob.locator('.conv-item .badge', { hasText: '25' }).waitFor();

  await openConversation(bob, alice.username);
  const divider = bob.locator('#unread-divider');
  await divider.waitFor();
  assert.equal(await divider.textContent(), '25 unread messages');
  // Right above the first unread message, which is in view.
  const next = await divider.evaluate((el) => {
    let n = el.nextElementSibling;
    while (n && !n.classList.contains('msg')) n = n.nextElementSibling;
    return n?.querySelector('p.text').textContent;
  });
  assert.equal(next, 'later 1');
  assert.ok(await bob.locator('#messages li.msg[data-seq="31"]').isVisible());
  const inView = await visibleSeqs(bob);
  assert.ok(inView.includes(31), `in view: ${inView}`);
  assert.ok(!inView.includes(55), 'the chat did not open at the bottom');

  // The marker moves to what is on screen, not to the newest message.
  const read = await waitReadSeq(bob, id, (s) => s > 30);
  const shown = Math.max(...(await visibleSeqs(bob)));
  assert.ok(read > 30 && read <= shown && read < 55, `read marker ${read}, newest shown ${shown}`);

  // Below: a button with the count of what is not seen yet.
  const jump = bob.locator('#jump-to-bottom');
  await jump.waitFor();
  const count = Number(await bob.locator('#jump-count').textContent());
  assert.ok(count > 0 && count <= 25 && count === 55 - (await waitReadSeq(bob, id, (s) => 55 - s === count)), `count ${count}`);

  await jump.click();
  await bob.waitForFunction(() => {
    const log = document.querySelector('.log');
    const last = [...log.querySelectorAll('li.msg')].at(-1);
    return last && last.getBoundingClientRect().bottom <= log.getBoundingClientRect().bottom + 1;
  });
  assert.ok((await visibleSeqs(bob)).includes(55));
  assert.equal(await waitReadSeq(bob, id, (s) => s === 55), 55);
  await bob.locator('#jump-to-bottom').waitFor({ state: 'hidden' });

  // And back to the first unread.
  const back = bob.locator('#jump-to-unread');
  await back.waitFor();
  assert.match(await back.textContent(), /25 unread messages/);
  await back.click();
  await bob.waitForFunction(() => {
    const log = document.querySelector('.log').getBoundingClientRect();
    const d = document.querySelector('#unread-divider')?.getBoundingClientRect();
    return d && d.top >= log.top && d.bottom <= log.bottom;
  });
  assert.ok((await visibleSeqs(bob)).includes(31));
});

test('a message arriving while the reader is scrolled up is counted on the jump button, not scrolled to', async () => {
  const alice = await world.user('carol');
  const bob = await world.user('dave', { viewport: { width: 1100, height: 600 } });
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);
  await seedMessages(alice, id, 60);
  await openConversation(bob, alice.username);
  // Everything is unread: the chat opens at the first message.
  await bob.locator('#unread-divider', { hasText: '60 unread messages' }).waitFor();
  await bob.locator('#jump-to-bottom').click();
  assert.equal(await waitReadSeq(bob, id, (s) => s === 60), 60);

  // Bob scrolls up to the top; Alice writes.
  await bob.locator('.log').evaluate((el) => (el.scrollTop = 0));
  await bob.locator('#jump-to-bottom').waitFor();
  const top = await visibleSeqs(bob);
  await alice.fill('#composer-input', 'are you there?');
  await alice.press('#composer-input', 'Enter');
  await bob.locator('#jump-count', { hasText: '1' }).waitFor();
  // The view did not move, and the new message is not marked read.
  assert.deepEqual(await visibleSeqs(bob), top);
  assert.equal(await serverReadSeq(bob, id), 60);
  await bob.locator('#jump-to-bottom').click();
  await messages(bob, 'are you there?').waitFor();
  assert.equal(await waitReadSeq(bob, id, (s) => s === 61), 61);
  // Alice sees it read.
  await alice.locator('#messages li.msg[data-status=read]', { hasText: 'are you there?' }).waitFor();
});
