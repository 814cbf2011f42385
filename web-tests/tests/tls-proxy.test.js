// The documented deployment: nginx with the configuration of
// docs/DEPLOYMENT.md terminates TLS (a self-signed certificate) in front
// of `banter serve --trusted-proxy 127.0.0.1`. Two people sign up through
// it and chat: the app loads over https, the WebSocket upgrade passes the
// proxy and its Origin check, and a message arrives live.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { messages, openConversation, send, signup, startChat, username, waitOnline } from '../lib/app.js';
import { launchBrowser } from '../lib/browser.js';
import { startTlsProxy } from '../lib/nginx.js';
import { startServer } from '../lib/server.js';

let server;
let proxy;
let browser;
before(async () => {
  server = await startServer({ args: ['--trusted-proxy', '127.0.0.1'] });
  proxy = await startTlsProxy(server.url);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close().catch(() => {});
  await proxy?.stop();
  await server?.stop();
});

async function person(prefix) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.username = username(prefix);
  page.sockets = [];
  page.on('websocket', (ws) => page.sockets.push(ws.url()));
  await page.goto(proxy.url);
  await signup(page, page.username);
  return page;
}

test('two people chat through the documented nginx TLS proxy', async () => {
  const response = await fetch(`${server.url}/api/v1/ready`);
  assert.equal(response.status, 200);
  const alice = await person('alice');
  const bob = await person('bob');
  assert.ok(alice.url().startsWith('https://localhost:'), alice.url());
  await waitOnline(alice);
  await waitOnline(bob);
  await startChat(alice, bob.username);
  await send(alice, 'over TLS');
  await openConversation(bob, alice.username);
  await messages(bob, 'over TLS').waitFor();
  // The WebSocket went through the proxy, over wss://.
  const proxied = proxy.url.replace('https://', 'wss://');
  assert.ok(alice.sockets.length > 0 && alice.sockets.every((u) => u.startsWith(proxied)), alice.sockets.join(', '));
});
