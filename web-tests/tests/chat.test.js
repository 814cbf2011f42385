// Two people in a 1:1 chat, each in their own browser context (device).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, messageTexts, openConversation, send, setup, startChat } from '../lib/app.js';
import { artifact } from '../lib/browser.js';

let world;
before(async () => (world = await setup()));
after(async () => world?.close());

/** Whether the server under test has the presence/typing/receipts additions. */
async function serverHasPresence(page) {
  return page.evaluate(async () => (await fetch('/api/v1/presence?user_ids=1', { headers: { authorization: 'Bearer x' } })).status !== 404);
}

test('two people chat 1:1 and see each other’s messages in real time', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  await send(alice, 'Hi Bob!');
  await messages(alice, 'Hi Bob!').waitFor();

  // Bob sees the conversation appear with an unread badge and the preview.
  const item = bob.locator('.conv-item', { hasText: alice.username });
  await item.locator('.badge', { hasText: '1' }).waitFor();
  assert.match(await item.locator('.conv-last').textContent(), /Hi Bob!/);

  await openConversation(bob, alice.username);
  await messages(bob, 'Hi Bob!').waitFor();
  assert.equal(await messages(bob, 'Hi Bob!').locator('.sender').textContent(), alice.username);
  await item.locator('.badge').waitFor({ state: 'hidden' });

  await send(bob, 'Hello Alice, nice to see you.');
  await messages(alice, 'Hello Alice, nice to see you.').waitFor();
  assert.deepEqual(await messageTexts(alice), ['Hi Bob!', 'Hello Alice, nice to see you.']);
  assert.deepEqual(await messageTexts(bob), ['Hi Bob!', 'Hello Alice, nice to see you.']);
  // Alice's own message is acknowledged by the server: at least "sent".
  await alice.locator('#messages li.msg.mine[data-status=sent], #messages li.msg.mine[data-status=delivered], #messages li.msg.mine[data-status=read]').first().waitFor();
  await alice.screenshot({ path: artifact('desktop-chat.png') });
});

test('presence dots, typing indicator and read receipts between two people', async (t) => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  if (!(await serverHasPresence(alice))) {
    t.skip('server has no presence/typing/receipts yet');
    return;
  }
  await startChat(alice, bob.username);
  await send(alice, 'ping');
  // Bob's device got it (he has not opened the chat): delivered, not read.
  await messages(alice, 'ping').and(alice.locator('[data-status=delivered]')).waitFor();
  await openConversation(bob, alice.username);

  // Both are online: green dots in the list and in the chat header.
  await alice.locator('.chat-head .presence-dot.online').waitFor();
  await bob.locator('.conv-item .presence-dot.online').waitFor();
  assert.equal(await alice.locator('#chat-subtitle').textContent(), 'online');

  // Bob types: Alice sees it; it stops when his message arrives.
  await bob.locator('#composer-input').pressSequentially('typing something', { delay: 20 });
  await alice.locator('#typing-indicator', { hasText: 'is typing' }).waitFor();
  await bob.press('#composer-input', 'Enter');
  await messages(alice, 'typing something').waitFor();
  await alice.locator('#typing-indicator', { hasText: 'is typing' }).waitFor({ state: 'hidden' }).catch(() => {});
  assert.equal((await alice.locator('#typing-indicator').textContent()).trim(), '');

  // Bob has the conversation open, so Alice's message shows as read.
  await messages(alice, 'ping').and(alice.locator('[data-status=read]')).waitFor();

  // Bob leaves (closes his device): Alice sees him offline after the grace period.
  await bob.context().close();
  await alice.locator('.chat-head .presence-dot:not(.online)').waitFor({ timeout: 60_000 });
});

test('a message with HTML in it is shown as text and never run', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  let dialogs = 0;
  for (const p of [alice, bob]) p.on('dialog', (d) => (dialogs++, d.dismiss()));
  const evil = '<script>alert("xss")</script><img src=x onerror="alert(1)"><b>bold</b>';
  await startChat(alice, bob.username);
  await send(alice, evil);
  await openConversation(bob, alice.username);
  for (const page of [alice, bob]) {
    const bubble = page.locator('#messages li.msg p.text').first();
    await bubble.waitFor();
    assert.equal(await bubble.textContent(), evil);
    assert.equal(await page.locator('#messages script, #messages img, #messages b').count(), 0);
  }
  assert.match(await bob.locator('.conv-item .conv-last').first().textContent(), /<script>/);
  await bob.waitForTimeout(300);
  assert.equal(dialogs, 0);
  // Defence in depth: the page runs under Trusted Types, so even a stray
  // innerHTML with a string would throw instead of parsing HTML.
  const refused = await bob.evaluate(() => {
    try {
      document.createElement('div').innerHTML = '<img src=x onerror=alert(1)>';
      return false;
    } catch (e) {
      return e instanceof TypeError;
    }
  });
  assert.equal(refused, true);
});

test('Enter sends, Shift+Enter starts a new line, and the counter guards the length limit', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const input = alice.locator('#composer-input');
  await input.pressSequentially('line one');
  await input.press('Shift+Enter');
  await input.pressSequentially('line two');
  assert.equal(await input.inputValue(), 'line one\nline two');
  await input.press('Enter');
  await messages(alice, 'line one').waitFor();
  assert.equal(await alice.locator('#messages li.msg p.text').first().textContent(), 'line one\nline two');
  assert.equal(await input.inputValue(), '');

  // Near the limit a counter appears; past it sending is refused with a reason.
  const counter = alice.locator('#composer-counter');
  await input.fill('x'.repeat(95_000));
  await counter.waitFor();
  assert.equal(await counter.textContent(), '95,000 / 100,000 characters');
  await input.fill('x'.repeat(100_001));
  assert.match(await counter.textContent(), /Too long: 100,001 \/ 100,000 characters\. Remove 1 to send\./);
  assert.equal(await alice.locator('#send-button').isDisabled(), true);
  await input.press('Enter');
  assert.equal(await alice.locator('#messages li.msg').count(), 1);
  // Exactly at the limit it goes through.
  await input.fill('y'.repeat(100_000));
  await input.press('Enter');
  await alice.locator('#messages li.msg[data-seq="2"]').waitFor();
  // A long text shows its start and "Read more"; the button shows it all.
  const long = alice.locator('#messages li.msg[data-seq="2"] p.text');
  assert.ok((await long.textContent()).length < 2_100, 'cut short');
  await long.getByRole('button', { name: 'Read more' }).click();
  assert.equal((await long.textContent()).length, 100_000);
  assert.equal(await long.getByRole('button', { name: 'Read more' }).count(), 0);
});

test('links in a message open safely, other schemes stay text, and right-to-left text is laid out right to left', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  await startChat(alice, bob.username);
  const text = 'see https://example.com/a_(b). and javascript:alert(1) or http://x.test/?q=1, שלום';
  await send(alice, text);
  await openConversation(bob, alice.username);
  const bubble = bob.locator('#messages li.msg p.text').first();
  await bubble.waitFor();
  assert.equal(await bubble.textContent(), text, 'the text is shown unchanged');
  const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.href, text: a.textContent, rel: a.rel, target: a.target })));
  assert.deepEqual(links, [
    { href: 'https://example.com/a_(b)', text: 'https://example.com/a_(b)', rel: 'noopener noreferrer', target: '_blank' },
    { href: 'http://x.test/?q=1', text: 'http://x.test/?q=1', rel: 'noopener noreferrer', target: '_blank' },
  ]);
  assert.equal(await bubble.getAttribute('dir'), 'auto');
  await send(bob, 'שלום עולם');
  const rtl = bob.locator('#messages li.msg p.text', { hasText: 'שלום עולם' });
  await rtl.waitFor();
  assert.equal(await rtl.evaluate((p) => getComputedStyle(p).direction), 'rtl');
});

test('dark mode follows the system setting', async () => {
  const light = await world.user('light');
  const dark = await world.user('dark', { colorScheme: 'dark' });
  const background = (page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  const [l, d] = [await background(light), await background(dark)];
  assert.notEqual(l, d);
  const luminance = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
  assert.ok(luminance(d) < 150 && luminance(l) > 600, `light ${l}, dark ${d}`);
});

test('a draft is kept per conversation across a reload, shown in the list, and gone once sent', async () => {
  const alice = await world.user('alice');
  const bob = await world.user('bob');
  const carol = await world.user('carol');
  await startChat(alice, bob.username);
  await alice.locator('#composer-input').fill('half a thought');
  await startChat(alice, carol.username);
  const bobRow = alice.locator('.conv-item', { hasText: bob.username });
  await bobRow.locator('.conv-last', { hasText: 'Draft: half a thought' }).waitFor();
  // Written to storage within a moment; a reload keeps it.
  await alice.waitForTimeout(600);
  await alice.reload();
  await bobRow.locator('.conv-last', { hasText: 'Draft: half a thought' }).waitFor();
  await openConversation(alice, bob.username);
  await alice.waitForFunction(() => document.getElementById('composer-input')?.value === 'half a thought');
  await alice.locator('#composer-input').press('Enter');
  await messages(alice, 'half a thought').waitFor();
  await openConversation(alice, carol.username);
  await bobRow.locator('.conv-last', { hasText: 'You: half a thought' }).waitFor();
  await alice.waitForFunction(() => document.getElementById('composer-input')?.value === '');
});
