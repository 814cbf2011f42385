// The WebSocket to `/api/v1/ws`: connects with the token as a subprotocol,
// keeps the connection alive with pings, notices a dead connection, and
// reconnects with exponential backoff and jitter — or, after a server's
// shutdown, when that server said (`error` `shutting_down` with
// `retry_after_ms`). A connection cut without a close frame (the node was
// killed or cut off, and every client of it at the same moment) is first
// retried after a random delay within the `hello`'s `reconnect_spread_ms`,
// so they do not all come back and sync at once; a network that comes back
// (`online`) reconnects at once. It knows nothing about messages: frames go to
// `onFrame`, state changes to `onState`.
//
// Where a proxy refuses WebSocket upgrades, it switches to the fallback
// transport (event-stream.js: the same frames over an event stream and
// POSTs): a WebSocket that fails before `hello` is followed at once by an
// attempt over the fallback, and so is the third WebSocket in a row cut
// within SHORT_LIVED_MS of `hello` (a proxy that lets upgrades through but
// kills them). On the fallback it tries a WebSocket again
// every PROBE_MS and after the network comes back, and moves back as soon
// as one opens.

import { EventStreamChannel } from './event-stream.js';

export const SUBPROTOCOL = 'banter.v1';
const CLOSE_SESSION_REVOKED = 4001;
/** On the fallback, how often a WebSocket is tried again. */
const PROBE_MS = 5 * 60_000;
/**
 * A WebSocket that ends this soon after `hello`, this many times in a row,
 * is taken for a proxy that lets the upgrade through and then cuts it: the
 * next connection uses the fallback.
 */
const SHORT_LIVED_MS = 15_000;
const SHORT_LIVED_LIMIT = 3;
/** The longest wait a shutting-down server's hint may ask for. */
const MAX_RECONNECT_HINT_MS = 60_000;

/** Reconnect delays: 0.5 s doubling up to 30 s, each randomised to 50–100 %. */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 30_000, random = Math.random } = {}) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

export class Socket {
  /**
   * @param {object} o
   * @param {() => string|null} o.getToken
   * @param {(frame: object) => void} o.onFrame every frame after `hello` (hello included)
   * @param {(state: {status: string, retryInMs?: number, attempt?: number}) => void} o.onState
   *   status: `connecting`, `online` (hello received), `waiting` (retry
   *   scheduled), `offline` (the browser says there is no network), `stopped`.
   * @param {() => void} o.onRevoked the server ended this session (4001)
   * @param {(attempt: number) => void} o.onConnectFailed a connection failed before `hello`
   */
  constructor({ getToken, onFrame, onState, onRevoked = () => {}, onConnectFailed = () => {} }) {
    Object.assign(this, { getToken, onFrame, onState, onRevoked, onConnectFailed });
    this.ws = null;
    this.attempt = 0;
    this.running = false;
    this.ready = false;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastSentAt = 0;
    this.lastReceivedAt = 0;
    this.heartbeatMs = 10_000;
    /** When a server going down asked to be reconnected to (its `retry_after_ms`): the next wait, once. */
    this.reconnectHintMs = null;
    /** The last `hello`'s `reconnect_spread_ms` (bounded like a hint). */
    this.spreadAfterLossMs = 0;
    /** After a cut connection: the least next wait, once (a moment within the spread). */
    this.spreadDelayMs = null;
    /** 'websocket' or 'events' (the fallback). */
    this.transport = 'websocket';
    this.probeTimer = null;
    this.readyAt = 0;
    this.shortLived = 0;
    // A network change may have left the proxy that blocked WebSockets
    // behind: the next connection tries one first.
    this.onOnline = () => {
      this.transport = 'websocket';
      this.reconnectNow();
    };
    this.onOffline = () => this.drop('offline');
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.probeTimer);
    this.closeSocket(1000, 'bye');
    this.onState({ status: 'stopped' });
  }

  /** Sends a frame if the connection is ready; false if it is not. */
  send(frame) {
    if (!this.ready || this.ws?.readyState !== 1 /* OPEN, for both transports */) return false;
    this.ws.send(JSON.stringify(frame));
    this.lastSentAt = Date.now();
    return true;
  }

  get isReady() {
    return this.ready;
  }

  /** The connection was lost without a word: the next wait is at least a random moment of the spread. */
  spreadAfterLoss() {
    this.spreadDelayMs = Math.round(Math.random() * this.spreadAfterLossMs);
  }

  /** Skips the backoff wait (the network came back, or the user asked). */
  reconnectNow() {
    if (!this.running || this.ready || this.ws) return;
    clearTimeout(this.retryTimer);
    this.spreadDelayMs = null;
    this.attempt = 0;
    this.connect();
  }

  /** Closes the current connection and schedules a reconnect. */
  drop(reason) {
    if (!this.running) return;
    this.closeSocket(4000, reason);
    this.scheduleRetry(reason === 'offline');
  }

  connect() {
    if (!this.running) return;
    const token = this.getToken();
    if (!token) return;
    if (navigator.onLine === false) {
      this.scheduleRetry(true);
      return;
    }
    this.onState({ status: 'connecting', attempt: this.attempt, transport: this.transport });
    const transport = this.transport;
    let ws;
    try {
      ws = transport === 'events' ? new EventStreamChannel(token) : openWebSocket(token);
    } catch {
      this.scheduleRetry(false);
      return;
    }
    this.ws = ws;
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastReceivedAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      // A server shutting down says when to come back (spread over its
      // clients, so they do not all reconnect and sync at once).
      if (frame.type === 'error' && frame.code === 'shutting_down' && !frame.client_msg_id && Number.isFinite(frame.retry_after_ms)) {
        this.reconnectHintMs = Math.min(Math.max(frame.retry_after_ms, 0), MAX_RECONNECT_HINT_MS);
      }
      if (frame.type === 'hello') {
        this.ready = true;
        this.readyAt = Date.now();
        this.attempt = 0;
        this.heartbeatMs = frame.heartbeat_interval_ms || 10_000;
        this.spreadAfterLossMs = Math.min(Math.max(Number(frame.reconnect_spread_ms) || 0, 0), MAX_RECONNECT_HINT_MS);
        this.startHeartbeat();
        this.onState({ status: 'online', transport });
        if (transport === 'events') this.scheduleProbe();
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      const wasReady = this.ready;
      this.ws = null;
      this.ready = false;
      this.stopHeartbeat();
      if (event.code === CLOSE_SESSION_REVOKED) {
        this.running = false;
        this.onRevoked();
        return;
      }
      // 1006: no close frame, the server or the path to it is gone.
      if (wasReady && event.code === 1006) this.spreadAfterLoss();
      if (wasReady && transport === 'websocket') {
        this.shortLived = Date.now() - this.readyAt < SHORT_LIVED_MS ? this.shortLived + 1 : 0;
        if (this.shortLived >= SHORT_LIVED_LIMIT) {
          this.shortLived = 0;
          this.transport = 'events';
        }
      }
      if (!wasReady) {
        this.onConnectFailed(this.attempt);
        // A WebSocket that never opened may be a proxy refusing upgrades:
        // the fallback goes next, at once. A fallback that failed too
        // means the server is out of reach: back to a WebSocket, after the
        // backoff.
        if (transport === 'websocket') {
          this.transport = 'events';
          this.connect();
          return;
        }
        this.transport = 'websocket';
      }
      this.scheduleRetry(false);
    };
  }

  /** On the fallback: tries a WebSocket later, and moves to it if it opens. */
  scheduleProbe() {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      if (!this.running || this.transport !== 'events') return;
      const token = this.getToken();
      let probe;
      try {
        probe = openWebSocket(token);
      } catch {
        this.scheduleProbe();
        return;
      }
      probe.onopen = () => {
        probe.onclose = null;
        probe.close(1000, 'probe');
        if (!this.running || this.transport !== 'events') return;
        this.transport = 'websocket';
        // One early cut of this WebSocket is enough to go back.
        this.shortLived = SHORT_LIVED_LIMIT - 1;
        this.closeSocket(1000, 'moving to a WebSocket');
        this.attempt = 0;
        this.connect();
      };
      probe.onclose = () => this.scheduleProbe();
    }, PROBE_MS);
  }

  scheduleRetry(offline) {
    if (!this.running) return;
    clearTimeout(this.retryTimer);
    if (offline || navigator.onLine === false) {
      // Wait for the browser's `online` event; still retry now and then in
      // case it never comes (navigator.onLine is only a hint).
      this.onState({ status: 'offline' });
      this.retryTimer = setTimeout(() => this.connect(), 30_000);
      return;
    }
    const delay = this.reconnectHintMs ?? Math.max(backoffDelay(this.attempt), this.spreadDelayMs ?? 0);
    this.reconnectHintMs = null;
    this.spreadDelayMs = null;
    this.attempt += 1;
    this.onState({ status: 'waiting', retryInMs: delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  closeSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    this.stopHeartbeat();
    if (ws) {
      ws.onmessage = ws.onclose = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
  }

  startHeartbeat() {
    this.stopHeartbeat();
    const tick = Math.max(1000, Math.floor(this.heartbeatMs / 2));
    this.heartbeatTimer = setInterval(() => {
      const now = Date.now();
      // The server answers every ping, so silence this long means the
      // connection is dead even if the browser has not noticed.
      if (now - this.lastReceivedAt > this.heartbeatMs * 2 + 5000) {
        this.spreadAfterLoss();
        this.drop('heartbeat timeout');
        return;
      }
      if (now - this.lastSentAt >= this.heartbeatMs - tick) this.send({ type: 'ping' });
    }, tick);
    this.lastReceivedAt = Date.now();
  }

  stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }
}

function openWebSocket(token) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws`;
  return new WebSocket(url, [SUBPROTOCOL, `banter.token.${token}`]);
}
