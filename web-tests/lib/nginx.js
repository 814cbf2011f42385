// nginx as the TLS-terminating reverse proxy in front of a test server,
// configured with the very `nginx` block of docs/DEPLOYMENT.md (only the
// names, ports and certificate paths are replaced), so that the documented
// configuration is the tested one. A self-signed certificate is made with
// openssl for `localhost`.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcess } from './server.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const DEPLOYMENT = resolve(here, '../../docs/DEPLOYMENT.md');
export const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';

/** The first ```nginx block of docs/DEPLOYMENT.md. */
export function documentedConfig() {
  const match = readFileSync(DEPLOYMENT, 'utf8').match(/```nginx\n([\s\S]*?)```/);
  if (!match) throw new Error('docs/DEPLOYMENT.md has no nginx block');
  return match[1];
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts nginx in front of `upstream` (`http://127.0.0.1:PORT`).
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startTlsProxy(upstream) {
  const dir = mkdtempSync(join(tmpdir(), 'banter-nginx-'));
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const upstreamHost = new URL(upstream).host;
  const replacements = [
    ['listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`],
    ['listen 80;', `listen 127.0.0.1:${httpPort};`],
    ['/etc/letsencrypt/live/chat.example.com/fullchain.pem', cert],
    ['/etc/letsencrypt/live/chat.example.com/privkey.pem', key],
    ['server_name chat.example.com;', 'server_name localhost;'],
    ['proxy_pass http://127.0.0.1:8080;', `proxy_pass http://${upstreamHost};`],
  ];
  let site = documentedConfig();
  for (const [from, to] of replacements) {
    if (!site.includes(from)) throw new Error(`docs/DEPLOYMENT.md's nginx block no longer has ${JSON.stringify(from)}`);
    site = site.split(from).join(to);
  }
  // What a distribution's nginx.conf provides around a site, for an
  // unprivileged nginx whose every file is in `dir`.
  const config = join(dir, 'nginx.conf');
  writeFileSync(config, `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${site}
}
`);
  const child = spawn(NGINX, ['-p', dir, '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const url = `https://localhost:${httpsPort}`;
  // Ready once it accepts TLS connections on its port.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${stderr}`);
    const up = await new Promise((r) => {
      const socket = connect(httpsPort, '127.0.0.1', () => {
        socket.destroy();
        r(true);
      });
      socket.on('error', () => r(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not come up: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      // SIGQUIT: nginx's graceful stop.
      await stopProcess(child, 'SIGQUIT', 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
