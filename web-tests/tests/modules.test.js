// The client's pure modules, run in the browser exactly as the app loads
// them: the timeline (dedup, cursor, gaps, paging) and reconnect backoff.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setup } from '../lib/app.js';

let world;
let page;
before(async () => {
  world = await setup();
  page = await (await world.context()).newPage();
  await page.goto(world.url);
});
after(async () => world?.close());

const msg = (seq) => ({ conversation_id: 1, seq, sender_id: 1, sender_device_id: 1, client_msg_id: `c${seq}`, text: `m${seq}`, server_ts: seq });

test('timeline: a message heard twice is kept once, and the cursor only covers contiguous seqs', async () => {
  const r = await page.evaluate(async (msgs) => {
    const { Timeline } = await import('/app/timeline.js');
    const t = new Timeline(1);
    t.loadNewest({ messages: msgs.slice(0, 3), has_more: false }); // 1..3
    const dup = t.add([msgs[2]]).length; // seq 3 again
    t.add([msgs[4]]); // seq 5: gap at 4
    const gapCursor = t.cursor;
    const gap = t.hasGap;
    t.add([msgs[3]]); // seq 4 fills it
    return { dup, gapCursor, gap, cursor: t.cursor, hasGap: t.hasGap, seqs: t.messages().map((m) => m.seq) };
  }, [1, 2, 3, 4, 5].map(msg));
  assert.deepEqual(r, { dup: 0, gapCursor: 3, gap: true, cursor: 5, hasGap: false, seqs: [1, 2, 3, 4, 5] });
});

test('timeline: before it is opened only the cursor moves; older pages go in front', async () => {
  const r = await page.evaluate(async (msgs) => {
    const { Timeline } = await import('/app/timeline.js');
    const t = new Timeline(1);
    t.knowUpTo(7);
    t.add([msgs[8]]); // seq 9 while not loaded: cursor jumps, nothing kept
    const notLoaded = { cursor: t.cursor, held: t.messages().length };
    t.loadNewest({ messages: msgs.slice(5, 9), has_more: true }); // 6..9
    const newest = { oldest: t.oldest, hasOlder: t.hasOlder };
    t.loadOlder({ messages: msgs.slice(0, 5), has_more: false }); // 1..5
    return { notLoaded, newest, oldest: t.oldest, hasOlder: t.hasOlder, seqs: t.messages().map((m) => m.seq) };
  }, [1, 2, 3, 4, 5, 6, 7, 8, 9].map(msg));
  assert.deepEqual(r, {
    notLoaded: { cursor: 9, held: 0 },
    newest: { oldest: 6, hasOlder: true },
    oldest: 1,
    hasOlder: false,
    seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  });
});

test('reconnect delays double up to 30 s with 50–100 % jitter', async () => {
  const r = await page.evaluate(async () => {
    const { backoffDelay } = await import('/app/socket.js');
    const low = [0, 1, 2, 3, 10].map((a) => backoffDelay(a, { random: () => 0 }));
    const high = [0, 1, 2, 3, 10].map((a) => backoffDelay(a, { random: () => 1 }));
    return { low, high };
  });
  assert.deepEqual(r.high, [500, 1000, 2000, 4000, 30000]);
  assert.deepEqual(r.low, [250, 500, 1000, 2000, 15000]);
});

test('message length is counted in Unicode scalar values, as the server counts it', async () => {
  const r = await page.evaluate(async () => {
    const { charCount } = await import('/app/format.js');
    return [charCount('abc'), charCount('😀😀'), charCount('e\u0301'), charCount('')];
  });
  assert.deepEqual(r, [3, 2, 2, 0]);
});

test('history cache: keeps the newest 50 messages of the 20 most recent conversations', async () => {
  const r = await page.evaluate(async () => {
    const { HistoryCache } = await import('/app/history-cache.js');
    localStorage.clear();
    const cache = new HistoryCache(7);
    const conv = (id, n) => Array.from({ length: n }, (_, i) => ({ conversation_id: id, seq: i + 1, text: `m${i + 1}` }));
    cache.save(1, conv(1, 120));
    const kept = cache.load(1).map((m) => m.seq);
    for (let id = 2; id <= 21; id++) cache.save(id, conv(id, 3));
    const evicted = cache.load(1).length;
    const newest = cache.load(21).length;
    localStorage.setItem('banter.history.7.21', 'not json');
    const damaged = cache.load(21).length;
    cache.clear();
    return { first: kept[0], last: kept[kept.length - 1], count: kept.length, evicted, newest, damaged, left: Object.keys(localStorage).length };
  });
  assert.deepEqual(r, { first: 71, last: 120, count: 50, evicted: 0, newest: 3, damaged: 0, left: 0 });
});

test('links: only http(s) URLs, without the trailing punctuation of the sentence', async () => {
  const r = await page.evaluate(async () => {
    const { linkParts } = await import('/app/message-text.js');
    const cases = [
      'go to https://example.com.',
      '(see https://en.wikipedia.org/wiki/Foo_(bar))',
      'javascript:alert(1) data:text/html,x ftp://x.test',
      'xhttps://nope.test and HTTPS://Example.com/Path?x=1#y!',
      'http:// alone',
    ];
    return cases.map((c) => ({ joined: linkParts(c).map((p) => p.text).join('') === c, urls: linkParts(c).filter((p) => p.url).map((p) => p.url) }));
  });
  assert.deepEqual(r, [
    { joined: true, urls: ['https://example.com/'] },
    { joined: true, urls: ['https://en.wikipedia.org/wiki/Foo_(bar)'] },
    { joined: true, urls: [] },
    { joined: true, urls: ['https://example.com/Path?x=1#y'] },
    { joined: true, urls: [] },
  ]);
});

test('a sync the server turned away (an error with no client_msg_id while syncing) is sent again after the wait', async () => {
  const r = await page.evaluate(async () => {
    const { Client } = await import('/app/client.js');
    const calls = [];
    const syncing = { syncing: true, sync() { calls.push(Date.now()); } };
    const idle = { syncing: false, sync() { calls.push('idle'); } };
    const started = Date.now();
    Client.prototype.onError.call(syncing, { type: 'error', code: 'storage_unavailable', message: 'busy', retry_after_ms: 150 });
    Client.prototype.onError.call(idle, { type: 'error', code: 'storage_unavailable', message: 'busy', retry_after_ms: 150 });
    const released = syncing.syncing === false;
    await new Promise((done) => setTimeout(done, 400));
    return { released, calls: calls.length, idleCalled: calls.includes('idle'), waited: calls[0] - started };
  });
  assert.equal(r.released, true, 'the client no longer waits for a sync_batch');
  assert.equal(r.calls, 1, 'one sync is sent again');
  assert.equal(r.idleCalled, false, 'a client that was not syncing does not start one');
  assert.ok(r.waited >= 150, `it waited the server's retry_after_ms (${r.waited} ms)`);
});
