// Browser benchmark of the web client with a long chat, run by hand (not
// part of the test suite; figures depend on the machine, so run it on a
// quiet one):
//
//   cargo build -p banter
//   cd web-tests && BANTER_BIN=$PWD/../target/debug/banter node bench/long-chat.js
//
// It starts its own `banter serve` (limits raised so the seeding is not
// throttled), signs up a reader and a writer over HTTP, makes 200
// conversations (one direct chat, 199 groups) and sends 5,000 messages in
// the direct chat, then drives headless Chromium as the reader:
//
// - scrolling back through all 5,000 messages: long tasks (> 50 ms, from a
//   PerformanceObserver 'longtask') and the most DOM nodes at any point;
// - with the 5,000 loaded: keystroke in the composer to the next frame
//   (median of 40), an incoming message from the writer to its row on
//   screen (median of 20), switching to another chat and back (median of 10);
//
// and prints the figures (JSON) next to the targets of issue 17. Options
// (environment): BENCH_MESSAGES (5000), BENCH_CONVERSATIONS (200).

import { launchBrowser } from '../lib/browser.js';
import { startServer } from '../lib/server.js';
import { seedMessages } from '../lib/seed.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES || 5000);
const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS || 200);
const PASSWORD = 'correct horse battery staple';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);

async function http(base, method, path, token, body) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

async function signup(base, username) {
  return http(base, 'POST', '/auth/signup', null, { username, password: PASSWORD, device_name: 'bench' });
}

/** A page signed in with `session` (put in localStorage, as the login screen would). */
async function signedInPage(context, base, session, path = '/') {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(base);
  await page.evaluate((s) => localStorage.setItem('banter.session', JSON.stringify(s)), session);
  await page.goto(base + path);
  await page.locator('#connection-status[data-state=online]').waitFor({ state: 'attached', timeout: 60_000 });
  return page;
}

async function main() {
  const server = await startServer({
    args: [
      '--set', 'signups_per_hour_per_address=100000',
      '--set', 'frames_per_second=2000',
      '--set', 'frames_burst=4000',
      '--set', 'account_frames_per_second=4000',
      '--set', 'account_frames_burst=8000',
      '--set', 'account_http_limits.membership.burst=100000',
      '--set', 'account_http_limits.membership.per_minute=100000',
      '--set', 'account_http_limits.lookups.burst=100000',
      '--set', 'account_http_limits.lookups.per_minute=100000',
      '--set', 'account_http_limits.reads.burst=100000',
      '--set', 'account_http_limits.reads.per_minute=100000',
    ],
  });
  const browser = await launchBrowser();
  try {
    const base = server.url;
    const tag = `${process.pid % 10000}`;
    const reader = await signup(base, `reader${tag}`);
    const writer = await signup(base, `writer${tag}`);
    const direct = await http(base, 'POST', '/conversations/direct', reader.token, { username: writer.user.username });
    const chatId = direct.id ?? direct.conversation?.id;
    console.error(`seeding ${CONVERSATIONS - 1} groups…`);
    let otherId = null;
    for (let i = 1; i < CONVERSATIONS; i++) {
      const g = await http(base, 'POST', '/conversations/groups', reader.token, { name: `Group ${i}`, member_ids: [writer.user.id] });
      otherId ??= g.id ?? g.conversation?.id;
    }

    // The writer sends from a page of the server's origin that does not run
    // the app (whose own rendering would slow the seeding down).
    const writerContext = await browser.newContext();
    const writerPage = await writerContext.newPage();
    await writerPage.goto(`${base}/health`);
    await writerPage.evaluate((s) => localStorage.setItem('banter.session', JSON.stringify(s)), writer);
    console.error(`seeding ${MESSAGES} messages…`);
    await seedMessages(writerPage, chatId, MESSAGES, { prefix: 'long chat message', tallEvery: 9 });
    // A message in the other chat, so it sorts near the top of the list.
    await seedMessages(writerPage, otherId, 1, { prefix: 'other chat' });

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await signedInPage(context, base, reader, `/c/${chatId}`);
    await page.evaluate(() => {
      window.__bench = { longTasks: [] };
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__bench.longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: false });
    });
    // All unread: the chat opens at its first unread message; go to the
    // newest one and scroll back from there.
    await page.locator('#messages li.msg').first().waitFor();
    await page.locator('#jump-to-bottom').click();
    await page.locator('#messages li.msg', { hasText: `long chat message ${MESSAGES}` }).waitFor();
    await page.evaluate(() => (window.__bench.longTasks = []));

    console.error('scrolling back…');
    let maxNodes = 0;
    let steps = 0;
    const started = Date.now();
    for (;;) {
      const state = await page.evaluate(async () => {
        const log = document.querySelector('.log');
        log.scrollTop = 0;
        const first = document.querySelector('#messages li.msg')?.dataset.seq;
        // Wait (bounded) until older rows come in above, or the beginning shows.
        const deadline = performance.now() + 15_000;
        while (performance.now() < deadline) {
          await new Promise((r) => requestAnimationFrame(r));
          if (document.querySelector('#messages li.msg')?.dataset.seq !== first) break;
          if (document.querySelector('.log-top')?.textContent.includes('beginning')) break;
        }
        return {
          nodes: document.getElementsByTagName('*').length,
          first: Number(document.querySelector('#messages li.msg')?.dataset.seq),
          done: !!document.querySelector('.log-top')?.textContent.includes('beginning'),
        };
      });
      maxNodes = Math.max(maxNodes, state.nodes);
      steps += 1;
      if (state.done || steps > 2000) break;
    }
    const scrollLongTasks = await page.evaluate(() => window.__bench.longTasks);
    const longTaskSupported = await page.evaluate(() => PerformanceObserver.supportedEntryTypes.includes('longtask'));
    const scrollSeconds = (Date.now() - started) / 1000;

    // Back at the newest message, with every message loaded.
    await page.locator('#jump-to-bottom').click();
    await page.locator('#messages li.msg', { hasText: `long chat message ${MESSAGES}` }).waitFor();
    const loaded = await page.evaluate(() => document.querySelectorAll('#messages li.msg').length);

    console.error('keystrokes…');
    await page.locator('#composer-input').click();
    await page.evaluate(() => {
      window.__bench.keys = [];
      document.querySelector('#composer-input').addEventListener('keydown', (e) => {
        const t0 = e.timeStamp;
        // The frame after the keystroke's own: rAF, then a task after it has painted.
        requestAnimationFrame(() => setTimeout(() => window.__bench.keys.push(performance.now() - t0), 0));
      });
    });
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press(String.fromCharCode(97 + (i % 26)));
      await page.waitForTimeout(60);
    }
    const keys = await page.evaluate(() => window.__bench.keys);
    await page.locator('#composer-input').fill('');

    console.error('incoming messages…');
    await page.evaluate(() => {
      window.__bench.incoming = [];
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) {
            const m = n.nodeType === 1 && n.querySelector?.('p.text')?.textContent.match(/^bench-incoming (\d+)/);
            if (m) requestAnimationFrame(() => setTimeout(() => window.__bench.incoming.push(Date.now() - Number(m[1])), 0));
          }
        }
      }).observe(document.querySelector('#messages'), { childList: true });
    });
    for (let i = 0; i < 20; i++) {
      const before = await page.evaluate(() => window.__bench.incoming.length);
      await writerPage.evaluate(
        async ({ id }) => {
          const { token } = JSON.parse(localStorage.getItem('banter.session'));
          const ws = new WebSocket(`ws://${location.host}/api/v1/ws`, ['banter.v1', `banter.token.${token}`]);
          await new Promise((resolve, reject) => {
            ws.onerror = reject;
            ws.onmessage = (e) => {
              const f = JSON.parse(e.data);
              if (f.type === 'hello') ws.send(JSON.stringify({ type: 'send', client_msg_id: `bench${Date.now()}${Math.random().toString(36).slice(2, 8)}`, conversation_id: id, text: `bench-incoming ${Date.now()}` }));
              else if (f.type === 'ack') resolve();
            };
          });
          ws.close();
        },
        { id: chatId },
      );
      await page.waitForFunction((n) => window.__bench.incoming.length > n, before, { timeout: 15_000 });
    }
    const incoming = await page.evaluate(() => window.__bench.incoming);

    console.error('switching chats…');
    const switches = [];
    for (let i = 0; i < 10; i++) {
      for (const target of [otherId, chatId]) {
        const ms = await page.evaluate(async (id) => {
          const link = document.querySelector(`a[href="/c/${id}"]`);
          const t0 = performance.now();
          link.click();
          // Until the chat shows its messages, then the next frame.
          const deadline = t0 + 15_000;
          while (performance.now() < deadline) {
            await new Promise((r) => requestAnimationFrame(r));
            if (location.pathname === `/c/${id}` && document.querySelector('#messages li.msg')) break;
          }
          await new Promise((r) => setTimeout(r, 0));
          return performance.now() - t0;
        }, target);
        if (target === chatId) switches.push(ms);
        await page.waitForTimeout(300);
      }
    }

    const over50 = scrollLongTasks.filter((d) => d > 50);
    const figures = {
      messages: MESSAGES,
      conversations: CONVERSATIONS,
      message_rows_in_dom_at_bottom: loaded,
      scroll_back: { longtask_observer_supported: longTaskSupported, steps, seconds: round(scrollSeconds), long_tasks_over_50ms: over50.length, longest_task_ms: round(Math.max(0, ...scrollLongTasks)), max_dom_nodes: maxNodes },
      keystroke_to_next_frame_ms: { median: round(median(keys)), samples: keys.length },
      incoming_message_visible_ms: { median: round(median(incoming)), samples: incoming.length },
      switch_back_to_long_chat_ms: { median: round(median(switches)), samples: switches.length },
      targets: { keystroke_ms: 16, incoming_ms: 30, switching_ms: 100, long_tasks_over_50ms_while_scrolling: 0, dom_nodes: 'a few thousand' },
    };
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
