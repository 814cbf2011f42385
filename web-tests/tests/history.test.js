// A long chat: the message log holds a bounded window of rows, scrolling
// up moves it back (loading older pages from the server) until the first
// message, and the message being looked at stays where it is meanwhile.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chatOpened, messages, setup, startChat } from '../lib/app.js';
import { conversationIdOf, seedMessages } from '../lib/seed.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Seqs of the message rows in the DOM, in order. */
const domSeqs = (page) => page.locator('#messages li.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));

test('a long chat keeps a bounded DOM, and scrolling back pages history in without moving the message in view', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);
  const total = 640;
  // Every seventh message six lines tall: rows of different heights.
  await seedMessages(alice, id, total, { tallEvery: 7 });

  // Her own messages are read: the chat opens at the newest one.
  await alice.reload();
  await messages(alice, `message ${total}`).waitFor();
  await chatOpened(alice);
  const firstWindow = await domSeqs(alice);
  assert.ok(firstWindow.length < total / 3, `the DOM holds ${firstWindow.length} message rows of ${total}`);
  assert.equal(firstWindow.at(-1), total);

  const seen = new Set(firstWindow);
  let maxRows = firstWindow.length;
  const log = alice.locator('.log');
  const beginning = alice.locator('.log-top', { hasText: 'beginning of the conversation' });
  for (let step = 0; step < 200 && !(await beginning.isVisible()); step++) {
    // Go to the top and note the message there; the log then adds older
    // rows above it (from memory or a new page) and must keep it in place.
    const before = await log.evaluate((el) => {
      el.scrollTop = 0;
      const top = el.getBoundingClientRect().top;
      const row = [...el.querySelectorAll('li.msg')].find((r) => r.getBoundingClientRect().bottom > top);
      return { seq: Number(row.dataset.seq), offset: row.getBoundingClientRect().top - top, first: Number(el.querySelector('li.msg').dataset.seq) };
    });
    // Something older arrives above, or the beginning shows.
    await alice.waitForFunction(
      (first) => document.querySelector('#messages li.msg')?.dataset.seq !== String(first) || document.querySelector('.log-top')?.textContent.includes('beginning'),
      before.first,
    );
    const after = await log.evaluate((el, seq) => {
      const row = el.querySelector(`li.msg[data-seq="${seq}"]`);
      return row ? row.getBoundingClientRect().top - el.getBoundingClientRect().top : null;
    }, before.seq);
    if (after !== null && before.first !== 1) assert.ok(Math.abs(after - before.offset) <= 2, `message ${before.seq} moved from ${before.offset} to ${after} px`);
    const seqs = await domSeqs(alice);
    maxRows = Math.max(maxRows, seqs.length);
    // The window is a run of consecutive messages: nothing skipped or doubled.
    seqs.forEach((seq, i) => assert.equal(seq, seqs[0] + i, `rows ${seqs.join(',')}`));
    for (const seq of seqs) seen.add(seq);
  }
  await beginning.waitFor();
  assert.equal((await domSeqs(alice))[0], 1);
  assert.equal(seen.size, total, 'every message was shown on the way back');
  assert.ok(maxRows < total / 3, `at most ${maxRows} message rows in the DOM at once`);
  assert.equal(await alice.locator('#messages li.msg p.text').first().textContent(), 'message 1');
});

test('scrolling down again after going back reaches the newest message, still with a bounded DOM', async () => {
  const alice = await world.user('carol');
  const bob = await world.user('dave');
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);
  const total = 400;
  await seedMessages(alice, id, total);
  await alice.reload();
  await messages(alice, `message ${total}`).waitFor();
  await chatOpened(alice);
  const log = alice.locator('.log');
  const beginning = alice.locator('.log-top', { hasText: 'beginning of the conversation' });
  for (let step = 0; step < 200 && !(await beginning.isVisible()); step++) {
    const first = await log.evaluate((el) => ((el.scrollTop = 0), el.querySelector('li.msg').dataset.seq));
    await alice.waitForFunction((f) => document.querySelector('#messages li.msg')?.dataset.seq !== f || document.querySelector('.log-top')?.textContent.includes('beginning'), first);
  }
  // Now the newest message has left the DOM; the jump button brings it back.
  assert.equal(await messages(alice, `message ${total}`).count(), 0);
  await alice.locator('#jump-to-bottom').click();
  await messages(alice, `message ${total}`).waitFor();
  assert.ok((await domSeqs(alice)).length < total / 2);
  // And scrolling down step by step gets there too.
  for (let step = 0; step < 200 && !(await beginning.isVisible()); step++) {
    const first = await log.evaluate((el) => ((el.scrollTop = 0), el.querySelector('li.msg').dataset.seq));
    await alice.waitForFunction((f) => document.querySelector('#messages li.msg')?.dataset.seq !== f || document.querySelector('.log-top')?.textContent.includes('beginning'), first);
  }
  for (let step = 0; step < 200 && (await messages(alice, `message ${total}`).count()) === 0; step++) {
    const last = await log.evaluate((el) => ((el.scrollTop = el.scrollHeight), [...el.querySelectorAll('li.msg')].at(-1).dataset.seq));
    await alice.waitForFunction((l) => [...document.querySelectorAll('#messages li.msg')].at(-1)?.dataset.seq !== l, last);
  }
  const seqs = await domSeqs(alice);
  assert.equal(seqs.at(-1), total);
  seqs.forEach((seq, i) => assert.equal(seq, seqs[0] + i));
});

test('an expanded long message stays expanded after its row leaves the window and comes back', async () => {
  const alice = await world.user('erin');
  const bob = await world.user('frank');
  await startChat(alice, bob.username);
  const id = conversationIdOf(alice);
  const total = 260;
  await seedMessages(alice, id, total, { longAt: 3 });
  await alice.reload();
  await messages(alice, `message ${total}`).waitFor();
  await chatOpened(alice);
  const log = alice.locator('.log');
  const beginning = alice.locator('.log-top', { hasText: 'beginning of the conversation' });
  const toBeginning = async () => {
    for (let step = 0; step < 200 && !(await beginning.isVisible()); step++) {
      const first = await log.evaluate((el) => ((el.scrollTop = 0), el.querySelector('li.msg').dataset.seq));
      await alice.waitForFunction((f) => document.querySelector('#messages li.msg')?.dataset.seq !== f || document.querySelector('.log-top')?.textContent.includes('beginning'), first);
    }
  };
  await toBeginning();
  const long = alice.locator('#messages li.msg[data-seq="3"]');
  await long.getByRole('button', { name: 'Read more' }).click();
  assert.equal(await long.getByRole('button', { name: 'Read more' }).count(), 0);
  const fullLength = (await long.locator('p.text').textContent()).length;
  assert.ok(fullLength > 3000);

  // Away (the row leaves the DOM) and back.
  await alice.locator('#jump-to-bottom').click();
  await messages(alice, `message ${total}`).waitFor();
  assert.equal(await long.count(), 0);
  await toBeginning();
  assert.equal(await long.getByRole('button', { name: 'Read more' }).count(), 0);
  assert.equal((await long.locator('p.text').textContent()).length, fullLength);
});
