// The message log of the open conversation, virtualized: of the thousands
// of messages a timeline may hold, only a window of at most MAX_ROWS
// consecutive ones is in the DOM (plus day separators, the unread divider
// and my messages still in the outbox). Scrolling near an edge of the
// window moves it by STEP rows (and near the top of the first held message,
// asks for an older page); whatever is added or dropped above the viewport,
// the first visible row is put back where it was, so the reader's place
// never jumps. A window with no spacers — heights vary (long messages,
// "Read more") and nothing has to be measured ahead of time.
//
// Rendering is incremental: each render works out a signature of what the
// window shows (timeline version, window bounds, receipts, outbox) and does
// nothing when it is unchanged — a keystroke, a typing indicator or a
// presence change touch no message row — and rows fill themselves only
// when their own message or status changed (message-row.js).
//
// A chat opens at the first message that was unread ("N unread messages"
// divider), or at the bottom when there is none; the read marker follows
// what was actually seen (seen-tracker.js). Two floating buttons: jump to
// the newest message (with the count of unseen ones) and jump back to the
// first unread.
//
// Edits and deletes are entries of the timeline with seqs of their own but
// no row: the timeline applies them to the message they name. A reply's
// quote jumps to the message it quotes (loading older pages to reach it),
// which is then highlighted for a moment.

import { h, setText } from '../dom.js';
import { sameDay } from '../format.js';
import { receiptThresholds, statusResolver } from '../receipts.js';
import { SeenTracker } from '../seen-tracker.js';
import { isChange } from '../timeline.js';
import { dayRow, fillRow, messageRow, unreadDivider } from './message-row.js';

const RUN_GAP_MS = 5 * 60_000;
/** Message rows in the DOM at most, however long the conversation. */
export const MAX_ROWS = 150;
const STEP = 50;
/** Closer than this to an edge of the window, the window moves. */
const EDGE_PX = 800;
const AT_BOTTOM_PX = 80;
/** Further than this from the newest message, the jump-to-bottom button shows. */
const SHOW_JUMP_PX = 200;
/** Rows kept above the unread divider when a chat opens there. */
const CONTEXT_ROWS = 10;
const DIVIDER_MARGIN_PX = 8;

/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 1600;

/**
 * @param {object} o
 * @param {(m: object) => void} [o.onReply] Reply pressed on a stored message.
 * @param {(m: object) => void} [o.onEdit] Edit pressed on one of my messages.
 * @param {(m: object) => void} [o.onDelete] Delete pressed on one of my messages.
 */
export function messageLogView({ store, client, onReply = () => {}, onEdit = () => {}, onDelete = () => {} }) {
  const top = h('li', { class: 'log-top', dataset: { key: 'top' } });
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-label': 'Messages' });
  const root = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', tabindex: '0' }, list);
  const jumpCount = h('span', { class: 'jump-count', id: 'jump-count', hidden: true });
  const jumpBottom = h(
    'button',
    { type: 'button', class: 'jump jump-bottom', id: 'jump-to-bottom', hidden: true, 'aria-label': 'Jump to the newest message', title: 'Jump to the newest message', onclick: () => jumpToBottom() },
    h('span', { 'aria-hidden': 'true', text: '↓' }),
    jumpCount,
  );
  const jumpUnread = h('button', { type: 'button', class: 'jump jump-unread', id: 'jump-to-unread', hidden: true, onclick: () => jumpToUnread() });
  const wrap = h('div', { class: 'log-wrap' }, root, jumpUnread, jumpBottom);

  const rows = new Map(); // key → row element in the window (messages and days)
  const expanded = new Set(); // keys of the open chat's messages whose "Read more" was pressed
  const tracker = new SeenTracker(root, (seq) => conv && client.markSeen(conv.id, seq));
  let conv = null;
  /** The window as seqs (stable when older pages are added); endSeq null: it ends at the newest message. */
  let win = { startSeq: null, endSeq: null };
  let positioned = false; // the opening position (divider or bottom) has been taken
  let readAtOpen = 0;
  let divider = null; // { seq, el }
  let pendingScroll = null; // 'divider' | 'bottom'
  let forceBottom = false;
  let lastSig = '';
  let lastMembers = null;
  let edgeFrame = 0;

  root.addEventListener('scroll', () => scheduleEdgeCheck(), { passive: true });

  function messagesOf(t) {
    return t.loaded ? t.messages() : [];
  }

  /** The window's [start, end) indices in `msgs`, at most MAX_ROWS apart. */
  function computeRange(t, msgs) {
    const n = msgs.length;
    let e = win.endSeq === null ? n : t.indexOfSeq(win.endSeq + 1);
    let s = win.startSeq === null ? Math.max(0, e - MAX_ROWS) : Math.min(t.indexOfSeq(win.startSeq), e);
    // The window began at the oldest message held and an older page came
    // in: show it at once. Rows are added above the top line instead of
    // the top line simply going away, which at scrollTop 0 could not be
    // made up for and would move the reader's place.
    // Unless the reader is at the newest message (or the log does not fill
    // its pane yet, which is both top and bottom): then the newest rows stay
    // and the older ones fill in above, up to MAX_ROWS.
    const pinned = win.endSeq === null && (pendingScroll === 'bottom' || forceBottom || atBottomNow());
    const grewUp = win.atOldest && s > 0 && !pinned;
    if (grewUp) s = Math.max(0, s - STEP);
    else if (pinned && win.atOldest) s = Math.max(0, e - MAX_ROWS);
    // Too long: trim the end away from the reader (the bottom when the
    // window follows the newest message, unless it just grew at the top).
    if (e - s > MAX_ROWS) {
      if (win.endSeq === null && !grewUp) s = e - MAX_ROWS;
      else e = s + MAX_ROWS;
    }
    setWindow(s, e, msgs);
    return [s, e];
  }

  function setWindow(s, e, msgs) {
    win = { startSeq: s < msgs.length ? msgs[s].seq : null, endSeq: e >= msgs.length ? null : msgs[e - 1].seq, atOldest: s === 0 };
  }

  function row(key, make) {
    let el = rows.get(key);
    if (!el) {
      el = make();
      rows.set(key, el);
    }
    return el;
  }

  /** Renders conversation `c`; `switched` when it was just opened. */
  function render(c, switched) {
    if (switched || conv?.id !== c.id) reset(c);
    conv = c;
    update();
  }

  function reset(c) {
    list.replaceChildren();
    rows.clear();
    expanded.clear();
    tracker.reset();
    win = { startSeq: null, endSeq: null };
    positioned = false;
    divider = null;
    pendingScroll = 'bottom';
    lastSig = '';
    readAtOpen = c.read_seq ?? 0;
  }

  /** Takes the opening position once the newest page (and the pages back to the first unread) are in. */
  function position(t) {
    positioned = true;
    // The marker as it is now: the list may have been refreshed from the
    // server since the chat was opened (a reload restores a snapshot), and
    // nothing here has moved it yet (the seen tracker starts below).
    readAtOpen = conv.read_seq ?? 0;
    const msgs = t.messages();
    const me = store.me?.id;
    let i = t.indexOfSeq(readAtOpen + 1);
    while (i < msgs.length && (msgs[i].sender_id === me || isChange(msgs[i]))) i++;
    if (i >= msgs.length) {
      win = { startSeq: null, endSeq: null };
      pendingScroll = 'bottom';
      return;
    }
    let count = 0;
    for (let j = i; j < msgs.length; j++) if (msgs[j].sender_id !== me && !isChange(msgs[j])) count++;
    // More unread than the client loads on opening: count those not held too.
    if (t.hasOlder && msgs[0].seq > readAtOpen + 1) count += msgs[0].seq - readAtOpen - 1;
    divider = { seq: msgs[i].seq, el: unreadDivider(count) };
    const s = Math.max(0, i - CONTEXT_ROWS);
    setWindow(s, Math.min(msgs.length, s + MAX_ROWS), msgs);
    pendingScroll = 'divider';
  }

  function update() {
    const c = conv;
    if (!c) return;
    const t = store.timeline(c.id);
    if (!positioned && t.loaded && !t.loadingUnread) position(t);
    // A message chosen among search results, once the chat is positioned.
    const jump = store.pendingJump;
    if (positioned && jump?.conversationId === c.id) {
      store.pendingJump = null;
      jumpTo(jump.seq);
    }
    // Busy while the chat opens (pages back to the first unread still
    // coming in, the opening position not taken): screen readers wait, and
    // so do tests before they scroll.
    const busy = String(!positioned);
    if (root.getAttribute('aria-busy') !== busy) root.setAttribute('aria-busy', busy);
    const msgs = messagesOf(t);
    const [s, e] = computeRange(t, msgs);
    const following = e === msgs.length;
    const outbox = following ? client.outbox.list(c.id) : [];
    const receipts = receiptThresholds(store, c);
    const members = store.members.get(c.id) ?? null;
    const sig = [
      c.id, t.version, t.loaded, t.hasOlder, t.loadingOlder, s, e, msgs.length, msgs[s]?.seq, receipts.key, store.users.size, store.me?.id, divider?.seq, client.quotesVersion ?? 0,
      outbox.map((o) => o.client_msg_id + (o.failed ? '!' : '')).join(','),
    ].join('|');
    if (sig === lastSig && members === lastMembers && !pendingScroll && !forceBottom) {
      updateJumps();
      return;
    }
    lastSig = sig;
    lastMembers = members;

    const atBottom = following && atBottomNow();
    const anchor = pendingScroll || forceBottom || atBottom ? null : findAnchor();

    const wanted = [];
    if (s === 0) {
      wanted.push(top);
      if (!t.loaded) setText(top, 'Loading…');
      else if (t.hasOlder) setText(top, t.loadingOlder ? 'Loading older messages…' : 'Scroll up for older messages');
      else setText(top, 'This is the beginning of the conversation.');
    }
    const me = store.me?.id;
    const statusOf = statusResolver(store, c);
    let prev = null;
    for (let j = s - 1; j >= 0 && !prev; j--) if (!isChange(msgs[j])) prev = msgs[j];
    for (let i = s; i < e; i++) {
      const m = msgs[i];
      if (isChange(m)) continue;
      const newDay = !prev || !sameDay(prev.server_ts, m.server_ts);
      if (newDay) wanted.push(row(`d:${m.seq}`, () => dayRow(`d:${m.seq}`, m.server_ts)));
      if (divider && m.seq === divider.seq) wanted.push(divider.el);
      const key = `m:${m.sender_device_id}:${m.client_msg_id}`;
      const el = row(key, () => messageRow(key));
      const mine = m.sender_id === me;
      fillRow(el, m, {
        mine,
        senderName: store.userName(m.sender_id),
        text: m.text,
        ts: m.server_ts,
        status: mine ? statusOf(m.seq) : null,
        first: newDay || prev.sender_id !== m.sender_id || m.server_ts - prev.server_ts > RUN_GAP_MS,
        seq: m.seq,
        expanded: expanded.has(key),
        onExpand: () => expanded.add(key),
        quote: m.reply_to ? quoteOf(c.id, m.reply_to) : null,
        tools: m.deleted
          ? null
          : { onReply: () => onReply(m), ...(mine ? { onEdit: () => onEdit(m), onDelete: () => onDelete(m) } : {}) },
      });
      wanted.push(el);
      prev = m;
    }
    // My messages not yet stored, after the newest (only when the window
    // reaches it); a pending edit or delete has no bubble of its own.
    let prevSender = prev ? prev.sender_id : null;
    const stored = new Set(wanted);
    for (const entry of outbox) {
      if (entry.kind && entry.kind !== 'text') continue;
      const key = `m:${store.deviceId}:${entry.client_msg_id}`;
      // Stored already (another tab's send came back as a message): show it once.
      if (stored.has(rows.get(key))) continue;
      const el = row(key, () => messageRow(key));
      fillRow(el, entry, {
        mine: true,
        senderName: 'You',
        text: entry.text,
        ts: null,
        status: entry.failed ? 'failed' : 'pending',
        first: prevSender !== me,
        failed: entry.failed,
        onRetry: () => client.retry(entry.client_msg_id),
        onDelete: () => client.discard(entry.client_msg_id),
      });
      wanted.push(el);
      prevSender = me;
    }

    // Reconcile: drop what left the window, then put every wanted row in place.
    const keep = new Set(wanted);
    for (const [key, el] of rows) {
      if (keep.has(el)) continue;
      el.remove();
      rows.delete(key);
      tracker.unobserve(el);
    }
    if (!keep.has(top)) top.remove();
    if (divider && !keep.has(divider.el)) divider.el.remove();
    let cursor = list.firstChild;
    for (const el of wanted) {
      if (el === cursor) cursor = cursor.nextSibling;
      else list.insertBefore(el, cursor);
    }
    for (const el of wanted) if (el.dataset.seq) tracker.observe(el);

    if (pendingScroll === 'divider' && divider?.el.isConnected) root.scrollTop = offsetInLog(divider.el) - DIVIDER_MARGIN_PX;
    else if (pendingScroll || forceBottom || atBottom) root.scrollTop = root.scrollHeight;
    else if (anchor?.el.isConnected) root.scrollTop += anchor.el.getBoundingClientRect().top - anchor.top;
    forceBottom = false;
    if (positioned) {
      pendingScroll = null;
      tracker.enable();
    }
    updateJumps();
    scheduleEdgeCheck();
  }

  function atBottomNow() {
    return root.scrollHeight - root.scrollTop - root.clientHeight < AT_BOTTOM_PX;
  }

  function offsetInLog(el) {
    return el.getBoundingClientRect().top - root.getBoundingClientRect().top + root.scrollTop;
  }

  /**
   * The first message row at least partly in view, and where it is (not a
   * day separator or the top line: those come and go as the window moves).
   */
  function findAnchor() {
    const viewTop = root.getBoundingClientRect().top;
    for (const el of list.children) {
      if (!el.classList.contains('msg')) continue;
      const r = el.getBoundingClientRect();
      if (r.bottom > viewTop) return { el, top: r.top };
    }
    return null;
  }

  function scheduleEdgeCheck() {
    if (edgeFrame) return;
    edgeFrame = requestAnimationFrame(() => {
      edgeFrame = 0;
      checkEdges();
    });
  }

  /** Near an edge of the window: move it (or load an older page at the very top). */
  function checkEdges() {
    updateJumps();
    if (!conv || !positioned) return;
    const t = store.timeline(conv.id);
    if (!t.loaded) return;
    const msgs = t.messages();
    const [s, e] = computeRange(t, msgs);
    if (root.scrollTop < EDGE_PX) {
      if (s > 0) {
        const ns = Math.max(0, s - STEP);
        setWindow(ns, Math.min(e, ns + MAX_ROWS), msgs);
        update();
      } else if (t.hasOlder && !t.loadingOlder) {
        client.loadOlder(conv.id);
        update(); // "Loading older messages…"
      }
    } else if (root.scrollHeight - root.scrollTop - root.clientHeight < EDGE_PX && e < msgs.length) {
      const ne = Math.min(msgs.length, e + STEP);
      setWindow(Math.max(s, ne - MAX_ROWS), ne, msgs);
      update();
    }
  }

  function updateJumps() {
    const c = conv;
    if (!c || !positioned) {
      jumpBottom.hidden = true;
      jumpUnread.hidden = true;
      return;
    }
    const t = store.timeline(c.id);
    const msgs = messagesOf(t);
    const following = win.endSeq === null;
    jumpBottom.hidden = following && root.scrollHeight - root.scrollTop - root.clientHeight < SHOW_JUMP_PX;
    const unseen = Math.max(0, (c.last_seq ?? 0) - Math.max(c.read_seq ?? 0, tracker.maxSeen, readAtOpen));
    const count = jumpBottom.hidden ? 0 : unseen;
    jumpCount.hidden = count === 0;
    setText(jumpCount, count > 99 ? '99+' : String(count));
    const label = count ? `Jump to the newest message, ${count} new` : 'Jump to the newest message';
    if (jumpBottom.getAttribute('aria-label') !== label) jumpBottom.setAttribute('aria-label', label);

    let above = false;
    if (divider) {
      if (divider.el.isConnected) above = divider.el.getBoundingClientRect().bottom < root.getBoundingClientRect().top;
      else above = msgs.length > 0 && win.startSeq !== null && divider.seq < win.startSeq;
    }
    jumpUnread.hidden = !above;
    if (above) {
      setText(jumpUnread, `↑ ${divider.el.textContent}`);
      jumpUnread.setAttribute('aria-label', `Jump to the first unread message (${divider.el.textContent})`);
    }
  }

  /** A reply's quote: the quoted message (null until known) and a jump to it. */
  function quoteOf(conversationId, seq) {
    const message = client.quoted(conversationId, seq);
    return { message, senderName: message ? store.userName(message.sender_id) : null, onJump: () => jumpTo(seq) };
  }

  /** Shows the message `seq` (loading older pages to reach it) and highlights it. */
  async function jumpTo(seq) {
    if (!conv) return;
    const id = conv.id;
    const t = store.timeline(id);
    if (!t.bySeq.has(seq) && !(await client.loadBackTo(id, seq))) return;
    if (conv?.id !== id) return;
    const msgs = t.messages();
    const i = t.indexOfSeq(seq);
    const s = Math.max(0, i - CONTEXT_ROWS);
    setWindow(s, Math.min(msgs.length, s + MAX_ROWS), msgs);
    lastSig = '';
    update();
    const el = list.querySelector(`li.msg[data-seq="${seq}"]`);
    if (!el) return;
    root.scrollTop = offsetInLog(el) - root.clientHeight / 3;
    el.classList.add('highlight');
    setTimeout(() => el.classList.remove('highlight'), HIGHLIGHT_MS);
  }

  function jumpToBottom() {
    win = { startSeq: null, endSeq: null };
    forceBottom = true;
    update();
  }

  function jumpToUnread() {
    if (!conv || !divider) return;
    const t = store.timeline(conv.id);
    const msgs = t.messages();
    const s = Math.max(0, t.indexOfSeq(divider.seq) - CONTEXT_ROWS);
    setWindow(s, Math.min(msgs.length, s + MAX_ROWS), msgs);
    pendingScroll = 'divider';
    update();
  }

  /** The next render scrolls to the newest message (after I send one). */
  const stickToBottom = () => {
    win = { startSeq: null, endSeq: null };
    forceBottom = true;
  };
  return { root: wrap, render, stickToBottom };
}
