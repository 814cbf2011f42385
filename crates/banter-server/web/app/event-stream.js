// The fallback transport (PROTOCOL.md, "Fallback transport"), for networks
// whose proxies refuse WebSocket upgrades: the server's frames come on an
// event stream (`GET /api/v1/events`, read with fetch so the token can go
// in a header), and the client's go up as POSTs to
// `/api/v1/events/{stream_id}`, one at a time and batched, so their order
// holds. It looks like a WebSocket to socket.js: `send(text)`,
// `close()`, `readyState`, `onmessage({data})`, `onclose({code})`.

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;
/** The largest event accepted: a server frame is at most 1 MiB. */
const MAX_EVENT_CHARS = 2 * 1024 * 1024;

export class EventStreamChannel {
  constructor(token) {
    this.token = token;
    this.readyState = CONNECTING;
    this.onmessage = null;
    this.onclose = null;
    this.streamId = null;
    this.outgoing = [];
    this.posting = false;
    this.aborter = new AbortController();
    this.run();
  }

  send(text) {
    if (this.readyState !== OPEN) return;
    this.outgoing.push(text);
    this.flush();
  }

  close() {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.aborter.abort();
  }

  async run() {
    let code = 1006;
    let reason = '';
    try {
      const response = await fetch('/api/v1/events', {
        headers: { Authorization: `Bearer ${this.token}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: this.aborter.signal,
      });
      if (!response.ok || !response.body) throw new Error(`event stream refused: ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let pending = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = parseEvent(pending.slice(0, end));
          pending = pending.slice(end + 2);
          if (!event) continue;
          if (event.name === 'stream') {
            this.streamId = JSON.parse(event.data).stream_id;
            if (this.readyState === CONNECTING) this.readyState = OPEN;
          } else if (event.name === 'close') {
            ({ code, reason } = JSON.parse(event.data));
          } else if (!event.name && this.readyState === OPEN) {
            this.onmessage?.({ data: event.data });
          }
        }
        if (pending.length > MAX_EVENT_CHARS) throw new Error('event too large');
      }
    } catch {
      /* refused, cut or closed by us: the close below says so */
    }
    const wasOpen = this.readyState !== CLOSED;
    this.readyState = CLOSED;
    this.aborter.abort();
    if (wasOpen) this.onclose?.({ code, reason });
  }

  /** POSTs what is queued, one request at a time, in order. */
  async flush() {
    if (this.posting || !this.streamId) return;
    this.posting = true;
    try {
      while (this.outgoing.length && this.readyState === OPEN) {
        const batch = this.outgoing.splice(0, 64);
        const response = await fetch(`/api/v1/events/${encodeURIComponent(this.streamId)}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/x-ndjson' },
          body: batch.join('\n'),
          cache: 'no-store',
          signal: this.aborter.signal,
        });
        // The stream is gone (its close event, if any, is on its way).
        if (!response.ok) throw new Error(`frames refused: ${response.status}`);
      }
    } catch {
      // Frames not taken are lost with the connection, as on a WebSocket
      // that closes; the outbox sends them again on the next one.
      this.close();
      this.onclose?.({ code: 1006, reason: 'frames could not be posted' });
    } finally {
      this.posting = false;
    }
  }
}

/** `event:` and `data:` of one event block; null without data. */
function parseEvent(block) {
  let name = '';
  let data = null;
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data = data === null ? value : `${data}\n${value}`;
  }
  return data === null ? null : { name, data };
}
