// A 375 px wide phone: one pane at a time, nothing wider than the screen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, openConversation, send, setup, startChat } from '../lib/app.js';
import { artifact } from '../lib/browser.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

const PHONE = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function noHorizontalOverflow(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `page is ${width}px wide`);
}

test('on a 375 px phone the list and the chat take the whole screen in turn', async () => {
  const alice = await world.user('alice', PHONE);
  const bob = await world.user('bob');
  await alice.screenshot({ path: artifact('phone-empty-list.png') });
  await startChat(alice, bob.username);
  // The chat replaces the list.
  assert.equal(await alice.locator('.sidebar').isVisible(), false);
  // Opening a chat does not pop the phone's keyboard up.
  await alice.waitForTimeout(100);
  assert.notEqual(await alice.evaluate(() => document.activeElement?.id), 'composer-input');
  await send(alice, 'Hello from my phone 📱');
  await openConversation(bob, alice.username);
  await send(bob, 'A long reply that has to wrap on a narrow screen, with a-very-long-word-that-does-not-fit-anywhere-on-a-phone-screen-at-all.');
  await messages(alice, 'A long reply').waitFor();
  await noHorizontalOverflow(alice);
  await alice.screenshot({ path: artifact('phone-chat.png') });

  // Back shows the list.
  await alice.getByRole('button', { name: 'Back to conversations' }).click();
  await alice.locator('.sidebar').waitFor();
  assert.equal(await alice.locator('#chat').isVisible(), false);
  await noHorizontalOverflow(alice);
  await alice.screenshot({ path: artifact('phone-list.png') });

  // The browser's back button returns to the chat.
  await alice.goBack();
  await alice.locator('#composer-input').waitFor();
});

test('the app can be used with the keyboard alone', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  // Tab to "New chat", open it, type, submit with Enter.
  await alice.locator('#new-chat-button').focus();
  await alice.keyboard.press('Enter');
  await alice.locator('#new-chat-username').waitFor();
  assert.equal(await alice.evaluate(() => document.activeElement.id), 'new-chat-username');
  await alice.keyboard.type(bob.username);
  await alice.keyboard.press('Enter');
  await alice.waitForURL(/\/c\/\d+$/);
  // The composer has focus after opening a conversation.
  await alice.waitForFunction(() => document.activeElement?.id === 'composer-input');
  await alice.keyboard.type('typed without a mouse');
  await alice.keyboard.press('Enter');
  await messages(alice, 'typed without a mouse').waitFor();
  // Escape closes a dialog.
  await alice.locator('#new-group-button').focus();
  await alice.keyboard.press('Enter');
  await alice.locator('#new-group-dialog[open]').waitFor();
  await alice.keyboard.press('Escape');
  await alice.locator('#new-group-dialog[open]').waitFor({ state: 'detached' });
});
