// A group of three: create, talk, see the member list, remove, leave.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGroup, messages, messageTexts, openConversation, send, setup } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

test('a group of three: everyone sees every message in order with its sender', async () => {
  const [alice, bob, carol] = await Promise.all([world.user('alice'), world.user('bob'), world.user('carol')]);
  await createGroup(alice, 'Trip planning', [bob.username, carol.username]);
  assert.equal(await alice.locator('#chat-title').textContent(), 'Trip planning');
  assert.match(await alice.locator('#chat-subtitle').textContent(), /^3 members/);

  await send(alice, 'Where shall we go?');
  for (const p of [bob, carol]) {
    await p.locator('.conv-item', { hasText: 'Trip planning' }).locator('.badge', { hasText: '1' }).waitFor();
    await openConversation(p, 'Trip planning');
    await messages(p, 'Where shall we go?').waitFor();
  }
  await send(bob, 'The mountains');
  await messages(carol, 'The mountains').waitFor();
  await send(carol, 'The sea!');
  for (const p of [alice, bob, carol]) {
    await messages(p, 'The sea!').waitFor();
    assert.deepEqual(await messageTexts(p), ['Where shall we go?', 'The mountains', 'The sea!']);
  }
  // Senders are named in a group (the first message of each run shows it).
  assert.equal(await messages(alice, 'The mountains').locator('.sender').textContent(), bob.username);
  assert.equal(await messages(alice, 'The sea!').locator('.sender').textContent(), carol.username);
  assert.equal(await messages(bob, 'Where shall we go?').locator('.sender').textContent(), alice.username);

  // Everyone has read Alice's message: it shows as read (group receipts come over HTTP).
  await messages(alice, 'Where shall we go?').and(alice.locator('[data-status=read]')).waitFor({ timeout: 15_000 });

  // The member list shows who is online.
  await alice.click('#members-button');
  await alice.locator('#member-list li.member .presence-dot.online').nth(1).waitFor();
  assert.equal(await alice.locator('#member-list li.member').count(), 3);
  assert.match(await alice.locator('#chat-subtitle').textContent(), /3 members, 2 online/);
});

test('the admin removes a member, and a member leaves', async () => {
  const [alice, bob, carol] = await Promise.all([world.user('alice'), world.user('bob'), world.user('carol')]);
  await createGroup(alice, 'Book club', [bob.username, carol.username]);
  await send(alice, 'Welcome!');
  await openConversation(bob, 'Book club');
  await openConversation(carol, 'Book club');

  // The member list shows everyone; the admin can remove.
  await alice.click('#members-button');
  const list = alice.locator('#member-list');
  await list.locator('li.member').nth(2).waitFor();
  assert.equal(await list.locator('li.member').count(), 3);
  // Removing asks first; Cancel keeps Carol.
  const removeCarol = list.locator(`li[data-username="${carol.username}"]`).getByRole('button', { name: /Remove/ });
  await removeCarol.click();
  const confirm = alice.getByRole('alertdialog');
  await confirm.getByText(/Remove .*\?/).waitFor();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'hidden' });
  assert.equal(await list.locator('li.member').count(), 3);
  await removeCarol.click();
  await confirm.getByRole('button', { name: 'Remove' }).click();
  await list.locator(`li[data-username="${carol.username}"]`).waitFor({ state: 'detached' });
  await alice.keyboard.press('Escape');

  // Carol loses the conversation.
  await carol.locator('.conv-item', { hasText: 'Book club' }).waitFor({ state: 'detached' });
  await carol.locator('.chat-empty').waitFor();

  // Bob is not an admin: no add form, no remove buttons; he leaves.
  await bob.click('#members-button');
  await bob.locator('#member-list li.member').nth(1).waitFor();
  assert.equal(await bob.locator('#member-list button', { hasText: 'Remove' }).count(), 0);
  assert.equal(await bob.locator('.add-members').isVisible(), false);
  await bob.click('#leave-group');
  await bob.getByRole('alertdialog').getByRole('button', { name: 'Leave group' }).click();
  await bob.locator('.conv-item', { hasText: 'Book club' }).waitFor({ state: 'detached' });
  await bob.waitForURL((url) => url.pathname === '/');

  // Alice sees the member count drop, and can add Carol back.
  await alice.locator('#chat-subtitle', { hasText: /^1 member\b/ }).waitFor();
  await alice.click('#members-button');
  await alice.fill('#add-members-input', carol.username);
  await alice.getByRole('button', { name: 'Add', exact: true }).click();
  await alice.locator(`#member-list li[data-username="${carol.username}"]`).waitFor();
  await carol.locator('.conv-item', { hasText: 'Book club' }).waitFor();
});
