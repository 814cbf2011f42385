// Incremental rendering of the message log, observed in the DOM itself
// (a MutationObserver on the list): typing in the composer touches no
// message row, a read receipt changes exactly the rows whose status it
// changes, and an incoming message adds its row and nothing else.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, openConversation, setup, startChat } from '../lib/app.js';
import { conversationIdOf, seedMessages, serverReadSeq } from '../lib/seed.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Starts recording which message rows change (by seq, or 'new' for added rows). */
const watchRows = (page) =>
  page.evaluate(() => {
    window.__rows = { changed: new Set(), added: [], removed: 0 };
    window.__observer?.disconnect();
    window.__observer = new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) if (n.nodeType === 1 && n.matches('li.msg')) window.__rows.added.push(n.querySelector('p.text').textContent);
        for (const n of r.removedNodes) if (n.nodeType === 1 && n.matches('li.msg')) window.__rows.removed += 1;
        const row = (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest('li.msg');
        if (row && !(r.target === row.parentElement)) window.__rows.changed.add(row.dataset.seq);
      }
    });
    window.__observer.observe(document.querySelector('#messages'), { subtree: true, childList: true, attributes: true, characterData: true });
  });

/** What was recorded, once the page has rendered everything pending (two frames). */
const rowChanges = (page) =>
  page.evaluate(async () => {
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const { changed, added, removed } = window.__rows;
    return { changed: [...changed].map(Number).sort((a, b) => a - b), added, removed };
  });

test('typing, a receipt and an incoming message touch only the rows they concern', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob', { viewport: { width: 1100, height: 420 } });
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);
  await seedMessages(alice, id, 30);
  await alice.reload();
  await messages(alice, 'message 30').waitFor();
  // Bob's device has them all (he has not opened the chat): delivered.
  await alice.locator('#messages li.msg[data-seq="30"][data-status=delivered]').waitFor();

  await watchRows(alice);
  await alice.locator('#composer-input').pressSequentially('a draft nobody sends', { delay: 10 });
  assert.deepEqual(await rowChanges(alice), { changed: [], added: [], removed: 0 }, 'typing changed message rows');

  // Bob opens the chat at its first unread message and sees only part of it.
  await watchRows(alice);
  await openConversation(bob, alice.username);
  await bob.locator('#unread-divider').waitFor();
  let read = 0;
  for (let i = 0; i < 50 && (read = (await serverReadSeq(bob, id)) ?? 0) === 0; i++) await bob.waitForTimeout(100);
  assert.ok(read > 0 && read < 30, `Bob's read marker: ${read}`);
  // Alice sees exactly those as read, and only their rows changed.
  await alice.locator(`#messages li.msg[data-seq="${read}"][data-status=read]`).waitFor();
  assert.equal(await serverReadSeq(bob, id), read, 'Bob did not scroll');
  assert.equal(await alice.locator(`#messages li.msg[data-seq="${read + 1}"][data-status=read]`).count(), 0);
  const receipt = await rowChanges(alice);
  assert.deepEqual(receipt.changed, Array.from({ length: read }, (_, i) => i + 1));
  assert.deepEqual(receipt.added, []);
  assert.equal(receipt.removed, 0);

  // Bob answers: one row more; sending reads everything before it, so
  // the rest of Alice's rows turn read — and no other row changes.
  await watchRows(alice);
  await bob.fill('#composer-input', 'got them');
  await bob.press('#composer-input', 'Enter');
  await messages(alice, 'got them').waitFor();
  await alice.locator('#messages li.msg[data-seq="30"][data-status=read]').waitFor();
  const incoming = await rowChanges(alice);
  assert.deepEqual(incoming.added, ['got them']);
  assert.equal(incoming.removed, 0);
  assert.deepEqual(
    incoming.changed.filter((seq) => seq <= 30),
    Array.from({ length: 30 - read }, (_, i) => read + 1 + i),
  );
});
