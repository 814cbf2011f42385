// Messages found by the chat filter: what is typed in "Find a chat" is
// also searched in the text of every conversation (GET /search), shown
// under the chats as the conversation, the date and a snippet with the
// matched words marked. Choosing one opens the chat at that message.
// Snippets are built as text nodes and <mark> elements, never as HTML.

import { h, setText } from '../dom.js';
import { formatListTime } from '../format.js';

/** Searches start this long after the last keystroke. */
const DEBOUNCE_MS = 300;

/** The server's limit (query_too_long beyond). */
export const MAX_QUERY_CHARS = 256;

/**
 * @param {object} o
 * @param {object} o.store
 * @param {object} o.api
 * @param {(conversationId: number, seq: number) => void} o.onOpen
 */
export function messageSearchView({ store, api, onOpen }) {
  const heading = h('h2', { class: 'search-head', id: 'message-search-head', text: 'Messages' });
  const status = h('p', { class: 'search-status', role: 'status' });
  const results = h('ul', { class: 'search-results', id: 'message-search-results', 'aria-labelledby': 'message-search-head' });
  const more = h('button', { type: 'button', class: 'link more-results', id: 'more-results', hidden: true, text: 'More results', onclick: () => run(shown.q, shown.next) });
  const root = h('section', { class: 'message-search', id: 'message-search', hidden: true }, heading, results, status, more);
  let timer = null;
  // Answers to an older query are dropped: only the latest counts.
  let asked = 0;
  let shown = { q: '', next: null };

  function query(text) {
    clearTimeout(timer);
    const q = text.trim();
    if (q.length < 2 && !/[^\x00-\x7f]/.test(q)) {
      asked++;
      shown = { q: '', next: null };
      root.hidden = true;
      results.replaceChildren();
      return;
    }
    timer = setTimeout(() => run(q, 0), DEBOUNCE_MS);
  }

  async function run(q, offset) {
    const ticket = ++asked;
    root.hidden = false;
    more.hidden = true;
    if (offset === 0) setText(status, 'Searching…');
    let page;
    try {
      page = await api.search({ q, offset: offset || undefined });
    } catch (e) {
      if (ticket === asked) setText(status, e.message);
      return;
    }
    if (ticket !== asked) return;
    if (offset === 0) results.replaceChildren();
    for (const r of page.results) results.append(row(r));
    shown = { q, next: page.next_offset ?? null };
    more.hidden = shown.next === null;
    const count = results.childElementCount;
    setText(status, count === 0 ? `No message contains “${q}”.` : page.truncated && shown.next === null ? 'Only the newest matches are shown: add a word to narrow the search.' : '');
  }

  function row(r) {
    const c = store.conversations.get(r.conversation_id);
    const title = c ? store.title(c) : 'Conversation';
    const who = r.sender_id === store.me?.id ? 'You' : store.userName(r.sender_id);
    const snippet = h('span', { class: 'search-snippet' }, r.snippet.map((part) => (part.hit ? h('mark', { text: part.text }) : part.text)));
    const button = h(
      'button',
      { type: 'button', class: 'search-hit', dataset: { conversationId: String(r.conversation_id), seq: String(r.seq) }, onclick: () => onOpen(r.conversation_id, r.seq) },
      h('span', { class: 'conv-row' }, h('span', { class: 'conv-title', text: title }), h('time', { class: 'conv-time', text: formatListTime(r.server_ts) })),
      h('span', { class: 'search-line' }, h('span', { class: 'search-who', text: `${who}: ` }), snippet),
    );
    return h('li', {}, button);
  }

  return { root, query };
}
