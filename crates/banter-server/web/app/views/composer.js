// The message composer: Enter sends, Shift+Enter starts a new line, a
// counter appears near the length limit and explains what to do past it.
// Typing notifies the other members (throttled by the client).
//
// Above the input, a context bar says when the next Enter replies to a
// message ("Replying to …") or saves an edit ("Editing message"); its ✕ or
// Escape cancels it (an edit gives the draft back).

import { h, setText } from '../dom.js';
import { charCount, formatNumber } from '../format.js';
import { icon } from '../icons.js';

const SHOW_COUNTER_FROM = 0.9; // of the limit
const MAX_ROWS_PX = 200;

export function composerView({ store, client, onSent = () => {} }) {
  const input = h('textarea', {
    id: 'composer-input',
    class: 'composer-input',
    rows: 1,
    placeholder: 'Message',
    'aria-label': 'Message',
    'aria-describedby': 'composer-counter composer-hint',
    enterkeyhint: 'send',
  });
  const counter = h('p', { class: 'counter', id: 'composer-counter', 'aria-live': 'polite', hidden: true });
  const hint = h('p', { class: 'sr-only', id: 'composer-hint', text: 'Enter sends. Shift+Enter starts a new line.' });
  const send = h('button', { type: 'submit', class: 'send icon-button primary', id: 'send-button', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
  const contextText = h('span', { class: 'composer-context-text', id: 'composer-context-text' });
  const contextCancel = h('button', { type: 'button', class: 'icon-button small', id: 'composer-context-cancel', 'aria-label': 'Cancel', title: 'Cancel (Escape)', text: '✕', onclick: () => cancelContext() });
  const context = h('div', { class: 'composer-context', id: 'composer-context', role: 'status', hidden: true }, contextText, contextCancel);
  const form = h('form', { class: 'composer', onsubmit: (e) => (e.preventDefault(), submit()) }, context, h('div', { class: 'composer-row' }, input, send), counter, hint);
  /** What the next submit does besides sending: {reply: message} or {edit: message, draft}. */
  let mode = null;
  // Kept across reloads, shown in the list (drafts.js); in memory only
  // when the page has no store of them (tests of the view alone).
  const drafts = store.drafts ?? new Map();
  let conversationId = null;

  function limit() {
    return store.limits?.max_message_chars || 100_000;
  }

  function submit() {
    const text = input.value;
    if (!text.trim() || conversationId === null || charCount(text) > limit()) {
      input.focus();
      return;
    }
    if (mode?.edit) {
      const { edit, draft } = mode;
      if (text !== edit.text) client.edit(conversationId, edit.seq, text);
      setMode(null);
      input.value = draft;
      drafts.set(conversationId, draft);
      update();
      input.focus();
      return;
    }
    client.send(conversationId, text, { replyTo: mode?.reply?.seq ?? null });
    setMode(null);
    input.value = '';
    drafts.set(conversationId, '');
    update();
    onSent();
    input.focus();
  }

  function setMode(next) {
    mode = next;
    context.hidden = !mode;
    context.classList.toggle('editing', !!mode?.edit);
    if (mode?.reply) {
      const m = mode.reply;
      const line = m.deleted ? 'Message deleted' : m.text.replace(/\s+/g, ' ').trim().slice(0, 80);
      setText(contextText, `Replying to ${store.userName(m.sender_id)}: ${line}`);
    } else if (mode?.edit) setText(contextText, 'Editing message');
    else setText(contextText, '');
  }

  function cancelContext() {
    if (mode?.edit) {
      input.value = mode.draft;
      if (conversationId !== null) drafts.set(conversationId, mode.draft);
    }
    setMode(null);
    update();
    input.focus();
  }

  /** The next message replies to `m`. */
  function startReply(m) {
    if (mode?.edit) cancelContext();
    setMode({ reply: m });
    input.focus();
  }

  /** The input holds `m`'s text; Enter saves the edit. */
  function startEdit(m) {
    const draft = mode?.edit ? mode.draft : input.value;
    setMode({ edit: m, draft });
    input.value = m.text;
    update();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function update() {
    const max = limit();
    // Code units ≥ scalar values, so short texts skip the exact count.
    const n = input.value.length < max * SHOW_COUNTER_FROM ? input.value.length : charCount(input.value);
    const over = n > max;
    counter.hidden = n < max * SHOW_COUNTER_FROM;
    counter.classList.toggle('over', over);
    setText(
      counter,
      over
        ? `Too long: ${formatNumber(n)} / ${formatNumber(max)} characters. Remove ${formatNumber(n - max)} to send.`
        : `${formatNumber(n)} / ${formatNumber(max)} characters`,
    );
    input.setAttribute('aria-invalid', over ? 'true' : 'false');
    send.disabled = over || !input.value.trim();
    // Grow with the text up to a few lines.
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, MAX_ROWS_PX) + 'px';
  }

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && mode) {
      e.preventDefault();
      e.stopPropagation();
      cancelContext();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    if (conversationId !== null && !mode?.edit) {
      drafts.set(conversationId, input.value);
      if (input.value.trim()) client.typing(conversationId);
    }
    update();
  });

  function render(c, switched) {
    if (!switched) return;
    setMode(null);
    conversationId = c.id;
    input.value = drafts.get(c.id) || '';
    update();
  }

  return { root: form, render, focus: () => input.focus(), startReply, startEdit };
}
