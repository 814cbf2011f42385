// axe-core on every view of the web client (sign-in, the empty app, the
// conversation list, messages found by search, a 1:1 chat, a group chat with its members, the
// settings, new chat, shortcuts and confirmation dialogs, a blocked chat and
// the settings listing it), on a phone and a
// desktop, in light and dark mode: no serious or critical violation, and
// (moderate in axe, but named in issue 17) a level-one heading and a main
// landmark on every view.
//
// axe is injected as a script; the app's CSP (rightly) refuses inline
// scripts, so only these contexts bypass CSP.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { createGroup, login, logout, messages, openConversation, send, signup, setup, startChat, username } from '../lib/app.js';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const PHONE = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

let world;
let alice;
before(async () => {
  world = await setup();
  // Alice has a 1:1 chat with Bob (read ticks both ways) and a group.
  alice = await world.user('alice');
  const bob = await world.user('bob');
  const carol = await world.user('carol');
  await startChat(alice, bob.username);
  await send(alice, 'Hello Bob, a link: https://example.org/page');
  await openConversation(bob, alice.username);
  await send(bob, 'Hi Alice!');
  await messages(alice, 'Hi Alice!').waitFor();
  await send(alice, 'Unread by Bob for now');
  await createGroup(alice, 'Accessible group', [bob.username, carol.username]);
  await alice.locator('#chat-title', { hasText: 'Accessible group' }).waitFor();
  await send(alice, 'Welcome, everyone');
  await messages(alice, 'Welcome, everyone').waitFor();
});
after(async () => world?.close());

const ALSO_REQUIRED = new Set(['page-has-heading-one', 'landmark-one-main', 'region']);

/** Serious and critical violations (and ALSO_REQUIRED) on the page as it is now. */
async function violations(page, view) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: AXE });
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical' || ALSO_REQUIRED.has(v.id))
    .map((v) => `${view}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function everyView(options, label) {
  const context = await world.context({ ...options, bypassCSP: true });
  const page = await context.newPage();
  const found = [];
  const check = async (view) => found.push(...(await violations(page, `${label} ${view}`)));

  await page.goto(world.url);
  await page.locator('#auth-username').waitFor();
  await check('sign-in');

  await signup(page, username('axe'));
  await page.locator('.empty-list').waitFor();
  await check('empty app');
  await logout(page);

  await login(page, alice.username);
  await page.locator('.conv-item', { hasText: 'Accessible group' }).waitFor();
  await check('conversation list');

  await page.fill('#conversation-filter', 'hello');
  await page.locator('#message-search-results .search-hit mark').first().waitFor();
  await check('messages found');
  await page.press('#conversation-filter', 'Escape');

  await page.getByRole('button', { name: 'New chat' }).click();
  await page.locator('#new-chat-dialog[open]').waitFor();
  await check('new chat dialog');
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator('#device-list li').first().waitFor();
  await check('settings dialog');
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  await page.locator('#help-dialog[open]').waitFor();
  await check('shortcuts dialog');
  await page.keyboard.press('Escape');

  await openConversation(page, 'bob');
  await messages(page, 'Hi Alice!').waitFor();
  await page.locator('#messages li.msg[data-status]').first().waitFor();
  await check('1:1 chat');

  if (options.isMobile) {
    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await page.locator('.conv-item').first().waitFor();
  }
  await openConversation(page, 'Accessible group');
  await messages(page, 'Welcome, everyone').waitFor();
  await check('group chat');
  await page.getByRole('button', { name: 'Members' }).click();
  await page.locator('#member-list li.member').nth(2).waitFor();
  await check('members dialog');
  await page.locator('#member-list').getByRole('button', { name: /^Remove/ }).first().click();
  await page.getByRole('alertdialog').waitFor();
  await check('confirmation dialog');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await page.locator('#members-dialog').waitFor({ state: 'hidden' });

  // Bob blocked: the chat's line instead of the composer, and the settings'
  // list (unblocked again there, for the next run).
  if (options.isMobile) await page.getByRole('button', { name: 'Back to conversations' }).click();
  await openConversation(page, 'bob');
  await page.getByRole('button', { name: 'Block', exact: true }).click();
  await page.locator('#confirm-dialog').getByRole('button', { name: 'Block', exact: true }).click();
  await page.locator('#blocked-line').waitFor();
  await check('blocked 1:1 chat');
  if (options.isMobile) await page.getByRole('button', { name: 'Back to conversations' }).click();
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator('#blocked-list li').first().waitFor();
  await check('settings with a blocked user');
  await page.locator('#blocked-list').getByRole('button', { name: /^Unblock/ }).click();
  await page.locator('#blocked-list li').waitFor({ state: 'detached' });
  await context.close();
  assert.deepEqual(found, []);
}

for (const [device, options] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  for (const colorScheme of ['light', 'dark']) {
    test(`no serious or critical axe violation on any view (${device}, ${colorScheme})`, async () => {
      await everyView({ ...options, colorScheme }, `${device}/${colorScheme}`);
    });
  }
}
