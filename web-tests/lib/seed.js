// Filling a conversation quickly, as its member: messages sent over a
// WebSocket of their own (the page's session token, so they come from
// another "tab" of that device) and read markers read back over HTTP.
// Sends keep at most WINDOW unanswered and follow the rate-limit contract
// (a `rate_limited` send is sent again after `retry_after_ms`), so a few
// thousand messages go in without tripping the server's limits.

const WINDOW = 16;

/**
 * Sends `count` messages to `conversationId` from `page`'s account:
 * `${prefix} ${n}` for n = 1..count, every `tallEvery`-th one (when set)
 * six lines long so that rows differ in height, and message `longAt` (when
 * set) followed by 3,000 more characters (past "Read more").
 */
export async function seedMessages(page, conversationId, count, { prefix = 'message', tallEvery = 0, longAt = 0 } = {}) {
  await page.evaluate(
    async ({ conversationId, count, prefix, tallEvery, longAt, window }) => {
      const { token } = JSON.parse(localStorage.getItem('banter.session'));
      const ws = new WebSocket(`ws://${location.host}/api/v1/ws`, ['banter.v1', `banter.token.${token}`]);
      const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      const text = (n) => {
        if (n === longAt) return `${prefix} ${n} ${'long text '.repeat(300)}`;
        return tallEvery && n % tallEvery === 0 ? `${prefix} ${n}\nline 2\nline 3\nline 4\nline 5\nline 6` : `${prefix} ${n}`;
      };
      await new Promise((resolve, reject) => {
        let next = 1;
        let acked = 0;
        // A deadline on progress, not on the whole run: no ack for 30 s is a stall.
        let timer;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => reject(new Error(`seeding stalled at ${acked} of ${count}`)), 30_000);
        };
        arm();
        const send = (n) => ws.send(JSON.stringify({ type: 'send', client_msg_id: `s${run}-${n}`, conversation_id: conversationId, text: text(n) }));
        // Paced at 80 % of the frame budget the hello announces (a token
        // bucket), and refused sends wait with everything else until the
        // server's retry_after_ms: the connection never gets near 4029.
        const retry = [];
        let pausedUntil = 0;
        let wake = null;
        let rate = 100; // frames per second, from hello
        let tokens = 10;
        let refilled = Date.now();
        const later = (ms) => (wake ??= setTimeout(() => ((wake = null), more()), Math.max(1, ms)));
        const more = () => {
          const now = Date.now();
          if (pausedUntil > now) return later(pausedUntil - now);
          tokens = Math.min(rate, tokens + ((now - refilled) / 1000) * rate);
          refilled = now;
          while (tokens >= 1 && (retry.length || (next <= count && next - 1 - acked < window))) {
            send(retry.length ? retry.shift() : next++);
            tokens -= 1;
          }
          if (tokens < 1 && (retry.length || next <= count)) later(((1 - tokens) / rate) * 1000);
        };
        ws.onerror = () => reject(new Error('seeding socket failed'));
        ws.onclose = (e) => reject(new Error(`seeding socket closed (${e.code} ${e.reason}) at ${acked} of ${count}`));
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data);
          if (f.type === 'hello') {
            const l = f.limits ?? {};
            const budgets = [l.frames_per_second, l.account_frames_per_second].filter((x) => x > 0);
            if (budgets.length) rate = Math.max(1, Math.floor(Math.min(...budgets) * 0.8));
            more();
          }
          else if (f.type === 'ack') {
            acked += 1;
            arm();
            if (acked === count) {
              clearTimeout(timer);
              resolve();
            } else more();
          } else if (f.type === 'error' && f.code === 'rate_limited' && f.client_msg_id) {
            retry.push(Number(f.client_msg_id.split('-').pop()));
            pausedUntil = Math.max(pausedUntil, Date.now() + Math.max(f.retry_after_ms ?? 100, 50));
            more();
          } else if (f.type === 'error') {
            clearTimeout(timer);
            reject(new Error(`${f.code}: ${f.message}`));
          }
        };
      });
      ws.onclose = null;
      ws.close();
    },
    { conversationId, count, prefix, tallEvery, longAt, window: WINDOW },
  );
}

/** `page`'s account's read marker in a conversation, as the server has it. */
export async function serverReadSeq(page, conversationId) {
  return page.evaluate(async (id) => {
    const { token } = JSON.parse(localStorage.getItem('banter.session'));
    const r = await fetch('/api/v1/conversations', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    const { conversations } = await r.json();
    return conversations.find((c) => c.id === id)?.read_seq ?? null;
  }, conversationId);
}

/** The conversation id in the page's address (`/c/<id>`). */
export function conversationIdOf(page) {
  return Number(new URL(page.url()).pathname.split('/').pop());
}
