// How the app looks on a 375×812 phone and a 1280×800 desktop: icon buttons
// with names, headers that keep names whole on one line, 44 px tap targets
// on touch screens, a colour per person with readable initials, ticks told
// apart without colour, and the connection state only when not online.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGroup, logout, messages, openConversation, send, setup, startChat } from '../lib/app.js';

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Whether an element's text fits without being cut (no ellipsis needed). */
const fits = (locator) => locator.evaluate((el) => el.scrollWidth <= el.clientWidth && el.getClientRects().length === 1);
const lineCount = (locator) =>
  locator.evaluate((el) => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)));

for (const [device, options] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`${device}: headers keep the group's name and "3 members, 2 online" on one line; every action is a named icon button`, async () => {
    const alice = await world.user('alice', options);
    const bob = await world.user('bob');
    const carol = await world.user('carol');
    await createGroup(alice, 'Weekend plans', [bob.username, carol.username]);
    await alice.locator('#chat-subtitle', { hasText: '3 members, 2 online' }).waitFor();

    for (const el of ['#chat-title', '#chat-subtitle']) {
      assert.ok(await fits(alice.locator(el)), `${el} is whole: ${await alice.locator(el).textContent()}`);
      assert.equal(await lineCount(alice.locator(el)), 1, `${el} on one line`);
    }
    assert.equal(await alice.locator('#chat-title').textContent(), 'Weekend plans');
    for (const name of ['Mute', 'Members', 'Send']) {
      const button = alice.getByRole('button', { name, exact: true });
      assert.equal(await button.getAttribute('title').then((t) => t.length > 0), true, `${name} has a tooltip`);
      assert.equal(await button.locator('svg').count(), 1, `${name} is an icon`);
    }
    if (device === 'phone') {
      await alice.getByRole('button', { name: 'Back to conversations' }).click();
      await alice.locator('.sidebar').waitFor();
    }
    for (const name of ['Settings', 'Log out', 'New chat', 'New group', 'Keyboard shortcuts']) {
      const button = alice.getByRole('button', { name, exact: true });
      assert.equal(await button.locator('svg').count(), 1, `${name} is an icon`);
      assert.equal(await button.getAttribute('title'), name);
    }
    // The sidebar shows the user's name whole.
    assert.equal(await alice.locator('#me-name').textContent(), alice.username);
    assert.ok(await fits(alice.locator('#me-name')), 'the name is whole');
    // Online: no connection line taking room.
    await alice.locator('#connection-status[data-state=online]').waitFor({ state: 'hidden' });
  });
}

test('phone: every tap target in the list and the chat is at least 44×44 px', async () => {
  const alice = await world.user('alice', PHONE);
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'hi');
  const small = async () =>
    alice.evaluate(() =>
      [...document.querySelectorAll('button, a, input, textarea')]
        .filter((el) => el.getClientRects().length && !el.closest('dialog:not([open])') && getComputedStyle(el).visibility !== 'hidden')
        .map((el) => ({ el, r: el.getBoundingClientRect() }))
        .filter(({ el, r }) => r.width > 0 && (r.width < 44 || r.height < 44) && !el.closest('.text')) // links inside message text flow with the text
        .map(({ el, r }) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} "${el.getAttribute('aria-label') ?? el.textContent}" ${Math.round(r.width)}×${Math.round(r.height)}`),
    );
  assert.deepEqual(await small(), [], 'in the chat');
  // Blocked: the line that replaces the composer has its Unblock button.
  await alice.getByRole('button', { name: 'Block', exact: true }).click();
  await alice.locator('#confirm-dialog').getByRole('button', { name: 'Block', exact: true }).click();
  await alice.locator('#blocked-line').waitFor();
  assert.deepEqual(await small(), [], 'in the blocked chat');
  await alice.getByRole('button', { name: 'Back to conversations' }).click();
  await alice.locator('.sidebar').waitFor();
  assert.deepEqual(await small(), [], 'in the list');
});

test('avatars take a stable colour per person, with readable initials in light and dark mode', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const page = await (await world.context({ colorScheme })).newPage();
    await page.goto(world.url);
    const pairs = await page.evaluate(() => {
      const rgb = (c) => c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
      const lum = ([r, g, b]) => {
        const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const out = [];
      for (let hue = 0; hue < 8; hue++) {
        const el = document.createElement('span');
        el.className = 'avatar';
        el.dataset.hue = String(hue);
        el.textContent = 'AB';
        document.body.append(el);
        const s = getComputedStyle(el);
        const [a, b] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))];
        out.push({ hue, bg: s.backgroundColor, contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) });
        el.remove();
      }
      return out;
    });
    assert.equal(new Set(pairs.map((p) => p.bg)).size, 8, `${colorScheme}: eight different colours`);
    for (const p of pairs) assert.ok(p.contrast >= 4.5, `${colorScheme} hue ${p.hue}: contrast ${p.contrast.toFixed(2)}`);
  }

  // The same person has the same colour in the list, the chat and the members.
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  const carol = await world.user('carol');
  await createGroup(alice, 'Colours', [bob.username, carol.username]);
  await alice.locator('#chat-title', { hasText: 'Colours' }).waitFor();
  await startChat(alice, bob.username);
  await alice.locator('#chat-title', { hasText: bob.username }).waitFor();
  const inList = await alice.locator('.conv-item', { hasText: bob.username }).locator('.avatar').getAttribute('data-hue');
  const inHeader = await alice.locator('.chat-head .avatar').getAttribute('data-hue');
  assert.equal(inHeader, inList);
  await openConversation(alice, 'Colours');
  await alice.getByRole('button', { name: 'Members' }).click();
  const member = alice.locator(`#member-list li[data-username="${bob.username}"] .avatar`);
  await member.waitFor();
  assert.equal(await member.getAttribute('data-hue'), inList);
  const hues = await alice.locator('#member-list .avatar').evaluateAll((els) => els.map((e) => e.dataset.hue));
  assert.ok(new Set(hues).size >= 2, `three people, not all one colour: ${hues}`);
});

test('a read message is marked by a filled shape, not by colour alone', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'read me');
  const sent = messages(alice, 'read me');
  await alice.locator('#messages li.msg[data-status=sent], #messages li.msg[data-status=delivered]').first().waitFor();
  const look = () =>
    sent.locator('.status').evaluate((el) => ({ text: el.textContent, bg: getComputedStyle(el).backgroundColor, label: el.getAttribute('aria-label'), role: el.getAttribute('role') }));
  const before = await look();
  assert.equal(before.bg, 'rgba(0, 0, 0, 0)', 'sent/delivered: no fill');
  assert.equal(before.role, 'img');
  assert.match(before.label, /^(Sent|Delivered)$/);
  await openConversation(bob, alice.username);
  await alice.locator('#messages li.msg[data-status=read]').waitFor();
  const after = await look();
  assert.equal(after.text, '✓✓');
  assert.equal(after.label, 'Read');
  assert.equal(after.role, 'img');
  assert.notEqual(after.bg, 'rgba(0, 0, 0, 0)', 'read: a filled disc');
});

test('phone: offline shows inside the open chat, and the line goes away once online again', async () => {
  const alice = await world.user('alice', PHONE);
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const inChat = alice.locator('#chat-connection');
  assert.equal(await inChat.isVisible(), false);
  await alice.context().setOffline(true);
  await inChat.waitFor();
  assert.match(await inChat.textContent(), /Offline|Reconnecting|Connection lost/);
  await alice.context().setOffline(false);
  await inChat.waitFor({ state: 'hidden' });
});

test('logging out asks first; Cancel keeps the session', async () => {
  const alice = await world.user('alice');
  await alice.getByRole('button', { name: 'Log out' }).click();
  const confirm = alice.getByRole('alertdialog', { name: 'Log out?' });
  await confirm.waitFor();
  // Cancel has the focus, so Enter or Escape cannot log out by accident.
  assert.equal(await alice.evaluate(() => document.activeElement?.textContent), 'Cancel');
  await alice.keyboard.press('Escape');
  await confirm.waitFor({ state: 'hidden' });
  assert.equal(await alice.locator('#me-name').textContent(), alice.username);
  await logout(alice);
  await alice.locator('#auth-username').waitFor();
});
