// The message log of the open conversation: messages in seq order with
// sender, time and (for mine) pending/sent/delivered/read, then my messages
// still in the outbox. Elements are kept by key and updated in place; the
// log sticks to the bottom when the reader is there, keeps its position when
// older pages are added above, and asks for an older page near the top.
//
// Text is set with textContent only.

import { h, setText } from '../dom.js';
import { formatDay, formatFull, formatTime, sameDay } from '../format.js';
import { messageStatus } from '../receipts.js';

const RUN_GAP_MS = 5 * 60_000;
const LOAD_OLDER_WITHIN_PX = 400;

const STATUS = {
  pending: { glyph: '🕓', label: 'Sending…' },
  failed: { glyph: '⚠', label: 'Not sent' },
  sent: { glyph: '✓', label: 'Sent' },
  delivered: { glyph: '✓✓', label: 'Delivered' },
  read: { glyph: '✓✓', label: 'Read' },
};

export function messageLogView({ store, client }) {
  const top = h('li', { class: 'log-top', dataset: { key: 'top' } });
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-label': 'Messages' });
  const root = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', tabindex: '0' }, list);
  const elements = new Map(); // key → element
  let conversationId = null;
  let forceBottom = false;

  root.addEventListener('scroll', () => maybeLoadOlder(), { passive: true });

  async function maybeLoadOlder() {
    if (conversationId === null || root.scrollTop > LOAD_OLDER_WITHIN_PX) return;
    const t = store.timelines.get(conversationId);
    if (!t?.loaded || !t.hasOlder || t.loadingOlder) return;
    await client.loadOlder(conversationId);
  }

  function messageElement(key) {
    let el = elements.get(key);
    if (el) return el;
    const sender = h('span', { class: 'sender' });
    const text = h('p', { class: 'text' });
    const time = h('time', { class: 'ts' });
    const status = h('span', { class: 'status' });
    const actions = h('span', { class: 'failed-actions', hidden: true });
    el = h('li', { class: 'msg', dataset: { key } }, h('div', { class: 'bubble' }, sender, text, h('span', { class: 'meta' }, time, status), actions));
    Object.assign(el, { parts: { sender, text, time, status, actions } });
    elements.set(key, el);
    return el;
  }

  function dayElement(key, ms) {
    let el = elements.get(key);
    if (!el) {
      el = h('li', { class: 'day', dataset: { key } }, h('span', { text: formatDay(ms) }));
      elements.set(key, el);
    }
    return el;
  }

  function fill(el, { mine, senderName, text, ts, status, first, seq, failed, clientMsgId }) {
    el.classList.toggle('mine', mine);
    el.classList.toggle('first', first);
    if (seq !== undefined) el.dataset.seq = String(seq);
    else delete el.dataset.seq;
    const p = el.parts;
    setText(p.sender, senderName);
    setText(p.text, text);
    if (ts) {
      setText(p.time, formatTime(ts));
      const iso = new Date(ts).toISOString();
      if (p.time.getAttribute('datetime') !== iso) {
        p.time.setAttribute('datetime', iso);
        p.time.title = formatFull(ts);
      }
    } else setText(p.time, '');
    if (mine) {
      if (el.dataset.status !== status) {
        el.dataset.status = status;
        const s = STATUS[status];
        setText(p.status, s.glyph);
        p.status.setAttribute('aria-label', s.label);
        p.status.title = s.label;
      }
    } else {
      delete el.dataset.status;
      setText(p.status, '');
    }
    p.actions.hidden = !failed;
    if (failed && !p.actions.firstChild) {
      p.actions.append(
        h('span', { class: 'failed-reason', text: `Not sent: ${failed.message || failed.code}` }),
        h('button', { type: 'button', class: 'link', text: 'Retry', onclick: () => client.retry(clientMsgId) }),
        h('button', { type: 'button', class: 'link', text: 'Delete', onclick: () => client.discard(clientMsgId) }),
      );
    } else if (!failed && p.actions.firstChild) p.actions.replaceChildren();
  }

  /** Renders conversation `c`; `switched` when it was just opened. */
  function render(c, switched) {
    if (switched) {
      list.replaceChildren();
      elements.clear();
      conversationId = c.id;
    }
    const t = store.timeline(c.id);
    const atBottom = root.scrollHeight - root.scrollTop - root.clientHeight < 80;
    const firstBefore = list.querySelector('li.msg');
    const anchorTop = firstBefore ? firstBefore.offsetTop : 0;

    const wanted = [top];
    if (!t.loaded) setText(top, 'Loading…');
    else if (t.hasOlder) setText(top, t.loadingOlder ? 'Loading older messages…' : 'Scroll up for older messages');
    else setText(top, 'This is the beginning of the conversation.');

    const me = store.me?.id;
    let prev = null;
    for (const m of t.loaded ? t.messages() : []) {
      if (!prev || !sameDay(prev.server_ts, m.server_ts)) {
        wanted.push(dayElement(`d:${new Date(m.server_ts).toDateString()}`, m.server_ts));
      }
      const el = messageElement(`m:${m.sender_device_id}:${m.client_msg_id}`);
      const mine = m.sender_id === me;
      fill(el, {
        mine,
        senderName: store.userName(m.sender_id),
        text: m.text,
        ts: m.server_ts,
        status: mine ? messageStatus(store, m) : null,
        first: !prev || prev.sender_id !== m.sender_id || m.server_ts - prev.server_ts > RUN_GAP_MS || !sameDay(prev.server_ts, m.server_ts),
        seq: m.seq,
      });
      wanted.push(el);
      prev = m;
    }
    const shown = new Set(wanted);
    for (const e of client.outbox.list(c.id)) {
      const key = `m:${store.deviceId}:${e.client_msg_id}`;
      // Stored already (another tab's send came back as a message): show it once.
      if (shown.has(elements.get(key))) continue;
      const el = messageElement(key);
      fill(el, {
        mine: true,
        senderName: 'You',
        text: e.text,
        ts: null,
        status: e.failed ? 'failed' : 'pending',
        first: !prev || prev.sender_id !== me,
        failed: e.failed,
        clientMsgId: e.client_msg_id,
      });
      wanted.push(el);
      prev = { sender_id: me, server_ts: e.created_at };
    }

    // Reconcile: drop what is gone, then put every wanted element in place.
    const keep = new Set(wanted);
    for (const [key, el] of elements) {
      if (!keep.has(el)) {
        el.remove();
        elements.delete(key);
      }
    }
    let cursor = list.firstChild;
    for (const el of wanted) {
      if (el === cursor) cursor = cursor.nextSibling;
      else list.insertBefore(el, cursor);
    }

    if (switched || atBottom || forceBottom) root.scrollTop = root.scrollHeight;
    else if (firstBefore && firstBefore.isConnected && list.querySelector('li.msg') !== firstBefore) {
      root.scrollTop += firstBefore.offsetTop - anchorTop; // older page added above: stay put
    }
    forceBottom = false;
    // Not enough to scroll yet: fetch more so the reader can scroll back.
    if (t.loaded && t.hasOlder && !t.loadingOlder && root.scrollHeight <= root.clientHeight + LOAD_OLDER_WITHIN_PX) {
      queueMicrotask(maybeLoadOlder);
    }
  }

  /** The next render scrolls to the newest message (after I send one). */
  const stickToBottom = () => (forceBottom = true);
  return { root, render, stickToBottom };
}
