// A server shutting down (SIGTERM, a deploy) tells each client when to come
// back — an `error` `shutting_down` with `retry_after_ms`, a random moment
// within `shutdown_reconnect_spread` — so a node's clients do not all
// reconnect and sync at once. The web client waits that long, and says so.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signup, username } from '../lib/app.js';
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
