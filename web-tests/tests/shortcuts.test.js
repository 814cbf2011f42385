// The keyboard: Ctrl/⌘+K finds a chat, Alt+↑/↓ moves between chats, arrow
// keys move within the list, Escape closes dialogs, "?" lists the shortcuts.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGroup, setup, startChat } from '../lib/app.js';

let world;
let alice;
let bob;
let carol;
before(async () => {
  world = await setup();
  alice = await world.user('alice');
  bob = await world.user('bob');
  carol = await world.user('carol');
  // Three chats, newest first in the list: the group, Carol, Bob.
  await startChat(alice, bob.username);
  await startChat(alice, carol.username);
  await alice.locator('#chat-title', { hasText: carol.username }).waitFor();
  await createGroup(alice, 'Keyboard club', [bob.username, carol.username]);
  await alice.locator('#chat-title', { hasText: 'Keyboard club' }).waitFor();
  await alice.goto(world.url);
  await alice.locator('.conv-item').nth(2).waitFor();
});
after(async () => world?.close());

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? '');
const listTitles = (page) => page.locator('.conv-item .conv-title').allTextContents();

test('Ctrl+K focuses the chat filter, which narrows the list by name; Escape clears it', async () => {
  await alice.locator('body').click();
  await alice.keyboard.press('Control+K');
  assert.equal(await focusedId(alice), 'conversation-filter');
  await alice.keyboard.type(carol.username.slice(0, 5).toUpperCase() + carol.username.slice(5));
  await alice.locator('.conv-item').nth(1).waitFor({ state: 'detached' });
  assert.deepEqual(await listTitles(alice), [carol.username]);
  await alice.keyboard.press('Escape');
  await alice.locator('.conv-item').nth(2).waitFor();
  await alice.keyboard.press('Meta+K');
  assert.equal(await focusedId(alice), 'conversation-filter');
  await alice.keyboard.type('nobody here');
  await alice.locator('.empty-list', { hasText: 'No chat matches “nobody here”.' }).waitFor();
  await alice.keyboard.press('Escape');
  await alice.locator('.conv-item').nth(2).waitFor();
});

test('arrow keys move within the list, and Enter opens the chat', async () => {
  await alice.keyboard.press('Control+K');
  await alice.keyboard.press('ArrowDown');
  const focusedTitle = () => alice.evaluate(() => document.activeElement?.closest('.conv-item')?.querySelector('.conv-title')?.textContent);
  assert.equal(await focusedTitle(), 'Keyboard club');
  await alice.keyboard.press('ArrowDown');
  assert.equal(await focusedTitle(), carol.username);
  await alice.keyboard.press('End');
  assert.equal(await focusedTitle(), bob.username);
  await alice.keyboard.press('ArrowUp');
  assert.equal(await focusedTitle(), carol.username);
  await alice.keyboard.press('Enter');
  await alice.locator('#chat-title', { hasText: carol.username }).waitFor();
});

test('Alt+↓ and Alt+↑ open the next and previous chat of the list, even from the composer', async () => {
  await alice.locator('#composer-input').focus();
  await alice.keyboard.press('Alt+ArrowDown');
  await alice.locator('#chat-title', { hasText: bob.username }).waitFor();
  await alice.keyboard.press('Alt+ArrowDown'); // already the last: stays
  await alice.locator('#chat-title', { hasText: bob.username }).waitFor();
  await alice.keyboard.press('Alt+ArrowUp');
  await alice.locator('#chat-title', { hasText: carol.username }).waitFor();
  await alice.keyboard.press('Alt+ArrowUp');
  await alice.locator('#chat-title', { hasText: 'Keyboard club' }).waitFor();
});

test('"?" opens the list of shortcuts outside text fields only; Escape closes it', async () => {
  await alice.locator('#composer-input').fill('');
  await alice.locator('#composer-input').focus();
  await alice.keyboard.type('?');
  assert.equal(await alice.locator('#composer-input').inputValue(), '?');
  assert.equal(await alice.locator('#help-dialog').isVisible(), false);
  await alice.locator('#composer-input').fill('');

  await alice.locator('#chat-title').click();
  await alice.keyboard.press('?');
  const help = alice.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await help.waitFor();
  for (const what of ['Find a chat', 'Previous chat', 'Next chat', 'Close a dialog']) await help.getByText(what).waitFor();
  await alice.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden' });

  // The Help button opens it too.
  await alice.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  await help.waitFor();
  await alice.keyboard.press('Escape');
  await help.waitFor({ state: 'hidden' });
});

test('Escape closes the new chat, settings and members dialogs', async () => {
  for (const [button, dialog] of [
    ['New chat', '#new-chat-dialog'],
    ['Settings', '#settings-dialog'],
    ['Members', '#members-dialog'],
  ]) {
    await alice.getByRole('button', { name: button, exact: true }).click();
    await alice.locator(`${dialog}[open]`).waitFor();
    await alice.keyboard.press('Escape');
    await alice.locator(dialog).waitFor({ state: 'hidden' });
  }
});
