// A server shutting down (SIGTERM, a deploy) tells each client when to come
// back — an `error` `shutting_down` with `retry_after_ms`, a random moment
// within `shutdown_reconnect_spread` — so a node's clients do not all
// reconnect and sync at once. The web client waits that long, and says so.
// A server lost without a word (killed) cannot say anything then: its
// `hello` said beforehand how long to spread a reconnect over
// (`reconnect_spread_ms`, scaled by its connection count), and the client
// waits a random moment of it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signup, username, waitOnline } from '../lib/app.js';
import { launchBrowser } from '../lib/browser.js';
import { startServer } from '../lib/server.js';

let server;
let browser;
before(async () => {
  server = await startServer({ args: ['--shutdown-reconnect-spread', '30s'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

test('on a server’s shutdown the client waits the time the server asked for before reconnecting', async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  let hint = null;
  page.on('websocket', (ws) =>
    ws.on('framereceived', ({ payload }) => {
      const frame = JSON.parse(String(payload));
      if (frame.type === 'error' && frame.code === 'shutting_down' && !frame.client_msg_id) hint = frame.retry_after_ms;
    }),
  );
  await page.goto(server.url);
  await signup(page, username('drain'));

  await server.stop();
  const line = page.locator('#connection-status', { hasText: /Reconnecting in \d+ s/ });
  await line.waitFor();
  assert.ok(Number.isInteger(hint) && hint >= 0 && hint <= 30_000, `a hint within the spread: ${hint}`);
  const shown = Number((await line.textContent()).match(/Reconnecting in (\d+) s/)[1]);
  // Its own backoff would say 1 s: the wait shown is the server's.
  assert.equal(shown, Math.max(1, Math.round(hint / 1000)));
  await context.close();
});

test('a server lost without a word is reconnected to after a moment within the spread its hello announced', async () => {
  // One connection per second: a node holding n connections announces n s.
  const lost = await startServer({ args: ['--set', 'reconnect_spread_rate=1'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    // The random moment within the spread is fixed at 90 % of it (the
    // backoff alone, with the same draw, would wait 0.475 s).
    await context.addInitScript(() => {
      Math.random = () => 0.9;
    });
    const page = await context.newPage();
    let spread = null;
    page.on('websocket', (ws) =>
      ws.on('framereceived', ({ payload }) => {
        const frame = JSON.parse(String(payload));
        if (frame.type === 'hello') spread = frame.reconnect_spread_ms;
      }),
    );
    await page.goto(lost.url);
    await signup(page, username('lost'));
    // More connections of this session on the node, held by a second tab
    // (its app's own and 18 more), then a reload: the first tab's new
    // connection is the node's twentieth.
    const holder = await context.newPage();
    await holder.goto(lost.url);
    await waitOnline(holder);
    const opened = await holder.evaluate(async () => {
      const { token } = JSON.parse(localStorage.getItem('banter.session'));
      const url = `ws://${location.host}/api/v1/ws`;
      const open = () =>
        new Promise((resolve) => {
          const ws = new WebSocket(url, ['banter.v1', `banter.token.${token}`]);
          ws.onmessage = () => resolve(true);
          ws.onclose = () => resolve(false);
        });
      return (await Promise.all(Array.from({ length: 18 }, open))).filter(Boolean).length;
    });
    assert.equal(opened, 18);
    spread = null;
    await page.reload();
    await waitOnline(page);
    await expect(() => spread !== null);
    // The reloaded tab's old connection may not have been counted off yet.
    assert.ok(spread === 20_000 || spread === 21_000, `twenty connections at one a second: ${spread} ms`);

    await lost.kill();
    const line = page.locator('#connection-status', { hasText: /Reconnecting in \d+ s/ });
    await line.waitFor();
    const shown = Number((await line.textContent()).match(/Reconnecting in (\d+) s/)[1]);
    assert.equal(shown, Math.round((spread * 0.9) / 1000), 'the wait is the moment within the spread, not the backoff');
    await context.close();
  } finally {
    await lost.stop();
  }
});

/** Polls `condition` (up to 10 s). */
async function expect(condition) {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
