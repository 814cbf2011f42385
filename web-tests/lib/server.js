// Starts a real `banter serve` (the built binary, $BANTER_BIN) on a random
// port with its own temporary data directory, and stops it.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const BANTER_BIN = process.env.BANTER_BIN || resolve(here, '../../target/debug/banter');

/** @returns {Promise<{url: string, stop: () => Promise<void>, kill: () => Promise<void>, logs: () => string}>} */
export async function startServer({ args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'banter-web-test-'));
  // Quick heartbeats and a short presence grace, so "went offline" shows in
  // seconds rather than the default 30 s; the only push service allowed is
  // one that cannot exist, so no test ever sends a push off this machine.
  // Every simulated person connects from 127.0.0.1, and each browser context
  // keeps up to six keep-alive connections open: the per-address cap (64 by
  // default, a guard against one abusive host) would refuse the page loads
  // of a test file's later people, so it is lifted far above what a test opens.
  const config = join(dataDir, 'test.toml');
  writeFileSync(
    config,
    [
      'heartbeat_interval = "1s"',
      'presence_grace = "3s"',
      'push_endpoint_hosts = ["push.invalid"]',
      'max_http_connections_per_address = 4096',
      '',
    ].join('\n'),
  );
  const child = spawn(BANTER_BIN, ['serve', '--config', config, '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...args], {
    env: { ...process.env, BANTER_LOG: process.env.BANTER_LOG || 'info,tower_http=warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`banter serve did not become ready:\n${output}`)), 20_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/ready url=(http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`banter serve exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    logs: () => output,
    async stop() {
      await stopProcess(child, 'SIGTERM', 8000);
      rmSync(dataDir, { recursive: true, force: true });
    },
    /** SIGKILL: the server is gone at once, without closing anything (call `stop` after, to clean up). */
    async kill() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Sends `signal`, waits up to `graceMs` for the exit, then SIGKILL. */
export async function stopProcess(child, signal, graceMs) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}
