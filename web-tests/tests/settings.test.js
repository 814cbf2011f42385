// Account settings and per-conversation notifications: the display name can
// be changed (and others see it), the device list shows every logged-in
// device and can sign one out (which ends that session at once), and a
// conversation can be muted and unmuted (stored on the server, so every
// device of the account agrees and push stops).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { login, openConversation, send, setup, startChat, waitOnline } from '../lib/app.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** The conversation list as the server has it for the page's session. */
async function serverConversations(page) {
  return page.evaluate(async () => {
    const { token } = JSON.parse(localStorage.getItem('banter.session'));
    const r = await fetch('/api/v1/conversations', { headers: { authorization: `Bearer ${token}` } });
    return (await r.json()).conversations;
  });
}

test('the display name is changed in settings, and the other side sees it', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'hello');

  await alice.click('#settings-button');
  await alice.fill('#settings-display-name', 'Alice Liddell');
  await alice.getByRole('button', { name: 'Save' }).click();
  await alice.locator('#settings-saved', { hasText: 'Saved.' }).waitFor();
  await alice.getByRole('button', { name: 'Close' }).click();
  await alice.locator('#me-name', { hasText: 'Alice Liddell' }).waitFor();

  // Bob's list names the chat after her new name once he loads it again.
  await bob.reload();
  await waitOnline(bob);
  await bob.locator('.conv-item', { hasText: 'Alice Liddell' }).waitFor();

  // Too long a name is refused with the server's message, nothing changes.
  await alice.click('#settings-button');
  await alice.locator('#settings-display-name').evaluate((input) => input.removeAttribute('maxlength'));
  await alice.fill('#settings-display-name', 'x'.repeat(65));
  await alice.getByRole('button', { name: 'Save' }).click();
  await alice.locator('#settings-dialog .form-error', { hasText: /./ }).waitFor();
  await alice.getByRole('button', { name: 'Close' }).click();
  assert.equal(await alice.locator('#me-name').textContent(), 'Alice Liddell');
});

test('another device is listed and can be signed out from here', async () => {
  const alice = await world.user('alice');
  const laptop = await (await world.context()).newPage();
  await laptop.goto(world.url);
  await login(laptop, alice.username);
  await waitOnline(laptop);

  await alice.click('#settings-button');
  const devices = alice.locator('#device-list li');
  await devices.nth(1).waitFor();
  assert.equal(await devices.count(), 2);
  assert.equal(await alice.locator('#device-list li', { hasText: '(this device)' }).count(), 1);
  await alice.locator('#device-list li:not(:has-text("(this device)")) button', { hasText: 'Sign out' }).click();
  await alice.locator('#device-list li').nth(1).waitFor({ state: 'detached' });

  // The signed-out device is back at the login form.
  await laptop.locator('#auth-username').waitFor();
});

test('a conversation is muted and unmuted, on the server and on every device', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const mute = alice.locator('#mute-button');
  assert.equal(await mute.getAttribute('aria-pressed'), 'false');
  await mute.click();
  await alice.locator('#mute-button[aria-pressed=true]').waitFor();
  await alice.locator('.conv-item .conv-muted:not([hidden])').waitFor();
  assert.equal((await serverConversations(alice))[0].muted, true);

  // Another device of alice's sees it muted too.
  const phone = await (await world.context()).newPage();
  await phone.goto(world.url);
  await login(phone, alice.username);
  await openConversation(phone, bob.username);
  await phone.locator('#mute-button[aria-pressed=true]').waitFor();

  await mute.click();
  await alice.locator('#mute-button[aria-pressed=false]').waitFor();
  assert.equal((await serverConversations(alice))[0].muted, false);
});
