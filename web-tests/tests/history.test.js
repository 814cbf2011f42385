// Scrolling back loads older pages until the beginning of the conversation.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, messageTexts, openConversation, setup, startChat } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Sends `count` messages from `page`'s account over a WebSocket of its own. */
async function seed(page, conversationId, count) {
  await page.evaluate(
    async ({ conversationId, count }) => {
      const { token } = JSON.parse(localStorage.getItem('banter.session'));
      const ws = new WebSocket(`ws://${location.host}/api/v1/ws`, ['banter.v1', `banter.token.${token}`]);
      await new Promise((resolve, reject) => {
        let acks = 0;
        ws.onerror = reject;
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'hello') {
            for (let i = 1; i <= count; i++) {
              ws.send(JSON.stringify({ type: 'send', client_msg_id: `seed-${i}`, conversation_id: conversationId, text: `message ${i}` }));
            }
          } else if (f.type === 'ack' && ++acks === count) resolve();
          else if (f.type === 'error') reject(new Error(f.message));
        };
      });
      ws.close();
    },
    { conversationId, count },
  );
}

test('scrolling up loads older pages until the first message', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const id = Number(new URL(alice.url()).pathname.split('/').pop());
  const total = 160;
  await seed(alice, id, total);

  await openConversation(bob, alice.username);
  await messages(bob, `message ${total}`).waitFor();
  // The newest page first, not the whole history.
  const firstPage = await bob.locator('#messages li.msg').count();
  assert.ok(firstPage < total, `first page holds ${firstPage} messages`);

  // Scroll to the top until the beginning shows.
  const log = bob.locator('.log');
  for (let i = 0; i < 20; i++) {
    await log.evaluate((el) => (el.scrollTop = 0));
    if (await bob.locator('.log-top', { hasText: 'beginning of the conversation' }).isVisible()) break;
    await bob.waitForTimeout(200);
  }
  await bob.locator('.log-top', { hasText: 'beginning of the conversation' }).waitFor();
  const texts = await messageTexts(bob);
  assert.equal(texts.length, total);
  assert.deepEqual(texts, Array.from({ length: total }, (_, i) => `message ${i + 1}`));
  // Seqs are unique and in order: nothing duplicated by paging or live delivery.
  const seqs = await bob.locator('#messages li.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1));
});
