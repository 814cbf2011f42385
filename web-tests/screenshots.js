// Takes the README's screenshots (docs/screenshots/*.png) of a real server
// with a little conversation in it, each in light and dark mode
// (`<name>.png`, `<name>-dark.png`), on a desktop and a phone. Not a test:
// run it after a UI change.
//
//   cargo build -p banter && node web-tests/screenshots.js

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGroup, messages, openConversation, send, setup, signup, startChat } from './lib/app.js';

const out = resolve(fileURLToPath(new URL('.', import.meta.url)), '../docs/screenshots');
mkdirSync(out, { recursive: true });
/** `name.png` in light mode and `name-dark.png` in dark mode. */
async function shot(page, name) {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.screenshot({ path: resolve(out, `${name}.png`) });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: resolve(out, `${name}-dark.png`) });
  await page.emulateMedia({ colorScheme: 'light' });
}

const world = await setup();
try {
  const login = await (await world.context()).newPage();
  await login.goto(world.url);
  await login.locator('#auth-username').waitFor();
  await shot(login, 'login');

  const named = async (username, display, options) => {
    const page = await (await world.context(options)).newPage();
    await page.goto(world.url);
    await signup(page, username, display);
    await page.evaluate(() => localStorage.setItem('banter.push-prompt-dismissed', '1'));
    await page.reload();
    await page.locator('#me-name').waitFor();
    page.username = username;
    return page;
  };
  const alice = await named('alice', 'Alice Martin', { viewport: { width: 1280, height: 800 } });
  const bob = await named('bob', 'Bob Chen');
  const carol = await named('carol', 'Carol Diaz');

  await createGroup(carol, 'Weekend hike', ['alice', 'bob']);
  await send(carol, 'Saturday at 9? Trailhead parking lot.');
  await startChat(alice, 'bob');
  await send(alice, 'Hey Bob! Are you coming on Saturday?');
  await openConversation(bob, 'Alice Martin');
  await send(bob, 'Yes! I will bring the map');
  await messages(alice, 'I will bring the map').waitFor();
  await send(alice, 'Great.\nI have snacks and a spare rain jacket.');
  await bob.waitForTimeout(3000); // typing frames are throttled to one per 3 s
  await bob.locator('#composer-input').pressSequentially('See you', { delay: 30 });
  await alice.locator('#typing-indicator', { hasText: 'typing' }).waitFor();
  await alice.locator('#messages li.msg[data-status=read]').last().waitFor();
  await shot(alice, 'desktop-chat');

  await openConversation(alice, 'Weekend hike');
  await send(alice, 'Count me in!');
  await alice.click('#members-button');
  await alice.locator('#member-list li.member').nth(2).waitFor();
  await alice.waitForTimeout(300);
  await shot(alice, 'desktop-group-members');
  await alice.keyboard.press('Escape');

  const phone = await named('dana', 'Dana Park', { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await startChat(phone, 'alice');
  await send(phone, 'Hi Alice, this is Dana. Is there room for one more on the hike?');
  await openConversation(alice, 'Dana Park');
  await send(alice, 'Of course! Saturday 9:00 at the trailhead.');
  await messages(phone, 'Of course!').waitFor();
  await phone.waitForTimeout(300);
  await shot(phone, 'phone-chat');
  await phone.getByRole('button', { name: 'Back to conversations' }).click();
  await phone.locator('.sidebar').waitFor();
  await shot(phone, 'phone-list');
  console.log(`screenshots in ${out}`);
} finally {
  await world.close();
}
