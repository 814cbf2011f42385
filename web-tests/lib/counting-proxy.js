// A loopback HTTP proxy in front of the test server that counts the
// requests that really reach the network (what the browser's HTTP cache
// answers never gets here). Requests keep their Host header, so the
// server's same-origin check of the WebSocket sees the page's own origin;
// upgrades are piped through unchanged — or, with `refuseUpgrades` (which
// can change while it runs), refused with 403 the way some corporate
// proxies do, while plain HTTP (the fallback's event stream and POSTs)
// passes.

import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/**
 * @param {string} upstream the server's base URL (http://127.0.0.1:port)
 * @param {{refuseUpgrades?: boolean, cutUpgradesAfterMs?: number}} [options]
 *   `cutUpgradesAfterMs`: upgrades pass, and each is cut that long after.
 * @returns {Promise<{url: string, requests: {method: string, path: string}[], refuseUpgrades: boolean, upgradesRefused: number, close: () => Promise<void>}>}
 */
export async function startCountingProxy(upstream, { refuseUpgrades = false, cutUpgradesAfterMs = 0 } = {}) {
  const proxy = { refuseUpgrades, cutUpgradesAfterMs, upgradesRefused: 0, upgradesCut: 0 };
  const target = new URL(upstream);
  const requests = [];
  const sockets = new Set();
  const server = createServer((req, res) => {
    requests.push({ method: req.method, path: req.url });
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    // An event stream stays open for as long as the connection lives.
    if (!req.url.startsWith('/api/v1/events')) forward.setTimeout(30_000, () => forward.destroy(new Error('upstream timed out')));
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => {
    if (proxy.refuseUpgrades) {
      proxy.upgradesRefused += 1;
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const up = connect(Number(target.port), target.hostname, () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`);
      up.write([`${req.method} ${req.url} HTTP/1.1`, ...headers, '', ''].join('\r\n'));
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
      if (proxy.cutUpgradesAfterMs > 0) {
        setTimeout(() => {
          proxy.upgradesCut += 1;
          up.destroy();
          socket.destroy();
        }, proxy.cutUpgradesAfterMs);
      }
    });
    sockets.add(up);
    up.on('close', () => (sockets.delete(up), socket.destroy()));
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
