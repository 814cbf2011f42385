// One row of the message log: a message bubble (sender, text, time, status,
// and for a refused send its reason with Retry/Delete), a day separator or
// the unread divider. A row remembers what it shows, so filling it again
// with the same message and status touches no DOM: an ack, a receipt or an
// incoming message changes only the rows it concerns.
//
// Text is set as Text nodes only (links and "Read more": message-text.js).

import { h, setText } from '../dom.js';
import { formatDay, formatFull, formatTime } from '../format.js';
import { renderMessageText } from '../message-text.js';

const STATUS = {
  pending: { glyph: '🕓', label: 'Sending…' },
  failed: { glyph: '⚠', label: 'Not sent' },
  sent: { glyph: '✓', label: 'Sent' },
  delivered: { glyph: '✓✓', label: 'Delivered' },
  read: { glyph: '✓✓', label: 'Read' },
};

export function messageRow(key) {
  const sender = h('span', { class: 'sender' });
  // dir="auto": a right-to-left message is laid out right to left.
  const text = h('p', { class: 'text', dir: 'auto' });
  const time = h('time', { class: 'ts' });
  const status = h('span', { class: 'status' });
  const actions = h('span', { class: 'failed-actions', hidden: true });
  const el = h('li', { class: 'msg', dataset: { key } }, h('div', { class: 'bubble' }, sender, text, h('span', { class: 'meta' }, time, status), actions));
  el.parts = { sender, text, time, status, actions };
  el.shown = {};
  return el;
}

export function dayRow(key, ms) {
  return h('li', { class: 'day', dataset: { key } }, h('span', { text: formatDay(ms) }));
}

/** "N unread messages" above the first message that was unread when the chat opened. */
export function unreadDivider(count) {
  return h('li', { class: 'unread-divider', id: 'unread-divider', dataset: { key: 'unread' } }, h('span', { text: `${count} unread message${count === 1 ? '' : 's'}` }));
}

/**
 * Shows a message (`source`: the stored message or outbox entry) in `el`.
 * `expanded`: "Read more" was pressed (kept by the log, so a row that
 * leaves the window and comes back stays open); `onExpand` reports the press.
 * @param {{mine: boolean, senderName: string, text: string, ts: number|null, status: string|null, first: boolean, seq?: number, failed?: object, expanded?: boolean, onExpand?: () => void, onRetry?: () => void, onDelete?: () => void}} o
 */
export function fillRow(el, source, o) {
  const was = el.shown;
  if (was.source === source && was.status === o.status && was.first === o.first && was.senderName === o.senderName && was.failed === o.failed) return;
  el.shown = { source, status: o.status, first: o.first, senderName: o.senderName, failed: o.failed };
  const p = el.parts;
  el.classList.toggle('mine', o.mine);
  el.classList.toggle('first', o.first);
  if (o.seq !== undefined) el.dataset.seq = String(o.seq);
  else delete el.dataset.seq;
  setText(p.sender, o.senderName);
  if (el.shownText !== o.text) {
    el.shownText = o.text;
    const text = o.text;
    const onExpand = o.onExpand;
    if (o.expanded) renderMessageText(p.text, text, { expanded: true });
    else
      renderMessageText(p.text, text, {
        onExpand: () => {
          onExpand?.();
          renderMessageText(p.text, text, { expanded: true });
        },
      });
  }
  if (o.ts !== was.ts) {
    if (o.ts) {
      setText(p.time, formatTime(o.ts));
      p.time.setAttribute('datetime', new Date(o.ts).toISOString());
      p.time.title = formatFull(o.ts);
    } else setText(p.time, '');
  }
  el.shown.ts = o.ts;
  if (o.mine && o.status) {
    if (el.dataset.status !== o.status) {
      el.dataset.status = o.status;
      const s = STATUS[o.status];
      setText(p.status, s.glyph);
      // An image with a name: a screen reader says "Read", not "check mark check mark".
      p.status.setAttribute('role', 'img');
      p.status.setAttribute('aria-label', s.label);
      p.status.title = s.label;
    }
  } else if (el.dataset.status) {
    delete el.dataset.status;
    setText(p.status, '');
    p.status.removeAttribute('role');
    p.status.removeAttribute('aria-label');
  }
  p.actions.hidden = !o.failed;
  if (o.failed && !p.actions.firstChild) {
    p.actions.append(
      h('span', { class: 'failed-reason', text: `Not sent: ${o.failed.message || o.failed.code}` }),
      h('button', { type: 'button', class: 'link', text: 'Retry', onclick: o.onRetry }),
      h('button', { type: 'button', class: 'link', text: 'Delete', onclick: o.onDelete }),
    );
  } else if (!o.failed && p.actions.firstChild) p.actions.replaceChildren();
}
