// One row of the message log: a message bubble (sender, text, time, status,
// and for a refused send its reason with Retry/Delete), a day separator or
// the unread divider. A row remembers what it shows, so filling it again
// with the same message and status touches no DOM: an ack, a receipt or an
// incoming message changes only the rows it concerns.
//
// Text is set as Text nodes only (links and "Read more": message-text.js).
//
// A reply shows the message it quotes above its text (a button that jumps
// there); an edited message says "edited"; a deleted one is a tombstone.
// Stored messages have Reply (and, for mine, Edit and Delete) buttons.

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
  const quote = h('button', { type: 'button', class: 'quote', hidden: true });
  const edited = h('span', { class: 'edited', text: 'edited', hidden: true });
  const tools = h('span', { class: 'msg-tools', hidden: true });
  const el = h(
    'li',
    { class: 'msg', dataset: { key } },
    h('div', { class: 'bubble' }, sender, quote, text, h('span', { class: 'meta' }, edited, time, status), actions),
    tools,
  );
  el.parts = { sender, text, time, status, actions, quote, edited, tools };
  // Touch screens have no hover: a tap on the bubble shows its tools
  // (style.css), another tap hides them; links and buttons keep their own.
  el.firstChild.addEventListener('click', (e) => {
    if (!e.target.closest('a, button')) el.classList.toggle('selected');
  });
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

/** The start of a quoted text, on one line. */
function snippet(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/**
 * Fills the quote of a reply: `quoted` is the message it replies to (null
 * while unknown), shown with its sender's name; pressing it calls `onJump`.
 */
export function fillQuote(el, quoted, senderName, onJump) {
  const q = el.parts.quote;
  const label = !quoted ? 'Earlier message' : quoted.deleted ? 'Message deleted' : snippet(quoted.text);
  const sig = `${senderName}|${label}`;
  if (q.hidden) q.hidden = false;
  q.onclick = onJump;
  if (q.dataset.sig === sig) return;
  q.dataset.sig = sig;
  q.replaceChildren(h('span', { class: 'quote-sender', text: senderName ?? '' }), h('span', { class: 'quote-text', text: label }));
  q.setAttribute('aria-label', `Reply to ${senderName ?? 'a message'}: ${label}. Show it`);
}

/**
 * Reply / Edit / Delete for a stored message (`tools`: the handlers of the
 * ones it has; null: none). Buttons are made only when the set changes;
 * they call the handlers of the latest fill.
 */
function fillTools(el, tools) {
  const t = el.parts.tools;
  el.toolHandlers = tools;
  const sig = tools ? [tools.onReply && 'r', tools.onEdit && 'e', tools.onDelete && 'd'].join('') : '';
  // Unchanged attributes are not set again: a row's DOM changes only when
  // what it shows does (tests/render.test.js watches for mutations).
  if (t.hidden !== !sig) t.hidden = !sig;
  if ((t.dataset.sig ?? '') === sig) return;
  t.dataset.sig = sig;
  const button = (cls, text, label, name) =>
    h('button', { type: 'button', class: `tool ${cls}`, text, 'aria-label': label, onclick: () => el.toolHandlers?.[name]?.() });
  const buttons = [];
  if (tools?.onReply) buttons.push(button('reply', 'Reply', 'Reply', 'onReply'));
  if (tools?.onEdit) buttons.push(button('edit', 'Edit', 'Edit', 'onEdit'));
  if (tools?.onDelete) buttons.push(button('delete', 'Delete', 'Delete for everyone', 'onDelete'));
  t.replaceChildren(...buttons);
}

/**
 * Shows a message (`source`: the stored message or outbox entry) in `el`.
 * `expanded`: "Read more" was pressed (kept by the log, so a row that
 * leaves the window and comes back stays open); `onExpand` reports the press.
 * @param {{mine: boolean, senderName: string, text: string, ts: number|null, status: string|null, first: boolean, seq?: number, failed?: object, expanded?: boolean, onExpand?: () => void, onRetry?: () => void, onDelete?: () => void}} o
 */
export function fillRow(el, source, o) {
  const was = el.shown;
  if (o.quote) fillQuote(el, o.quote.message, o.quote.senderName, o.quote.onJump);
  else if (!el.parts.quote.hidden) el.parts.quote.hidden = true;
  fillTools(el, o.tools ?? null);
  if (was.source === source && was.status === o.status && was.first === o.first && was.senderName === o.senderName && was.failed === o.failed) return;
  el.shown = { source, status: o.status, first: o.first, senderName: o.senderName, failed: o.failed };
  const p = el.parts;
  el.classList.toggle('deleted', !!source.deleted);
  const editedHidden = !source.edited_at || !!source.deleted;
  if (p.edited.hidden !== editedHidden) p.edited.hidden = editedHidden;
  if (source.edited_at) p.edited.title = `Edited ${formatFull(source.edited_at)}`;
  el.classList.toggle('mine', o.mine);
  el.classList.toggle('first', o.first);
  if (o.seq !== undefined) el.dataset.seq = String(o.seq);
  else delete el.dataset.seq;
  setText(p.sender, o.senderName);
  if (source.deleted) {
    if (el.shownText !== null) {
      el.shownText = null;
      setText(p.text, 'This message was deleted');
    }
  } else if (el.shownText !== o.text) {
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
