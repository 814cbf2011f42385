// Driving the web client like a person: sign up, start chats, send and
// read messages. Every helper waits for what a person would see.

import { launchBrowser } from './browser.js';
import { startServer } from './server.js';

export const PASSWORD = 'correct horse battery staple';
let counter = 0;

/** A unique username for this test process. */
export function username(prefix) {
  counter += 1;
  return `${prefix}${process.pid % 10000}x${counter}`;
}

/**
 * One server and one browser for a test; `user()` opens a new browser
 * context (a separate device) signed up as a new account.
 */
export async function setup() {
  const server = await startServer();
  const browser = await launchBrowser();
  const contexts = [];
  const world = {
    server,
    browser,
    url: server.url,
    async context(options = {}) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, ...options });
      contexts.push(context);
      return context;
    },
    /** Signs up `name` in a fresh context and returns its page. */
    async user(prefix, options) {
      const context = await world.context(options);
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`[${prefix}] page error:`, e.message));
      const name = username(prefix);
      await page.goto(server.url);
      await signup(page, name);
      page.username = name;
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await server.stop();
    },
  };
  return world;
}

export async function signup(page, name, displayName) {
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.fill('#auth-username', name);
  await page.fill('#auth-password', PASSWORD);
  if (displayName) await page.fill('#auth-display-name', displayName);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.locator('#me-name').waitFor();
  await waitOnline(page);
}

export async function login(page, name) {
  await page.fill('#auth-username', name);
  await page.fill('#auth-password', PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#me-name').waitFor();
}

/** Connected: the connection line is then out of sight (it shows only trouble). */
export async function waitOnline(page) {
  await page.locator('#connection-status[data-state=online]').waitFor({ state: 'attached' });
}

/** Logs out through the button and its confirmation. */
export async function logout(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#confirm-dialog').getByRole('button', { name: 'Log out' }).click();
}

/** Starts (or opens) the 1:1 chat with `name` through the New chat dialog. */
export async function startChat(page, name) {
  await page.click('#new-chat-button');
  await page.fill('#new-chat-username', name);
  await page.getByRole('button', { name: 'Start chat' }).click();
  // The dialog closes once the chat exists and the app has navigated to it
  // (same task): waiting for the URL alone would return at once when
  // another chat was open already.
  await page.locator('#new-chat-dialog').waitFor({ state: 'hidden' });
  await page.locator('#chat-title').waitFor();
  await page.waitForURL(/\/c\/\d+$/);
}

export async function createGroup(page, name, members) {
  await page.click('#new-group-button');
  await page.fill('#new-group-name', name);
  await page.fill('#new-group-members', members.join(', '));
  await page.getByRole('button', { name: 'Create group' }).click();
  await page.locator('#new-group-dialog').waitFor({ state: 'hidden' });
  await page.waitForURL(/\/c\/\d+$/);
}

/** Opens a conversation from the list by its title. */
export async function openConversation(page, title) {
  await page.locator('.conv-item', { hasText: title }).first().locator('a').click();
  await page.waitForURL(/\/c\/\d+$/);
}

export async function send(page, text) {
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

/**
 * Waits until the open chat has taken its opening position (the pages back
 * to the first unread are in): until then the log keeps jumping to it, so a
 * test that scrolls must wait for this first.
 */
export async function chatOpened(page) {
  await page.locator('.log[aria-busy="false"]').waitFor();
}

/** The message bubble(s) whose text is exactly `text`. */
export function messages(page, text) {
  return page.locator('#messages li.msg').filter({ has: page.locator('p.text', { hasText: text }) });
}

/** Texts of all messages shown, in order. */
export async function messageTexts(page) {
  return page.locator('#messages li.msg p.text').allTextContents();
}
