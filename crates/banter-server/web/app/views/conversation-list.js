// The conversation list: title, last message, time, unread badge and, for
// 1:1 conversations, the peer's presence dot. Items are kept by id and
// updated in place so keyboard focus survives updates. A filter box finds a
// chat by name, case and accents ignored (Ctrl/⌘+K focuses it), and its
// text is also searched in the messages (message-search.js); ↑/↓, Home
// and End move between rows.

import { paintAvatar } from '../avatar.js';
import { h, setText } from '../dom.js';
import { fold, formatListTime, plural, preview } from '../format.js';
import { MAX_QUERY_CHARS } from './message-search.js';

export function conversationListView({ store, onOpen, onQuery = () => {} }) {
  const list = h('ul', { class: 'conv-list', id: 'conversation-list' });
  const empty = h('p', { class: 'empty-list' });
  const root = h('nav', { class: 'conv-nav', 'aria-label': 'Conversations' }, list, empty);
  const filter = h('input', {
    type: 'search',
    id: 'conversation-filter',
    class: 'conv-filter',
    placeholder: 'Find a chat or message',
    'aria-label': 'Find a chat by name, or messages by their words',
    maxlength: String(MAX_QUERY_CHARS),
    'aria-controls': 'conversation-list',
    'aria-keyshortcuts': 'Control+K Meta+K',
    autocomplete: 'off',
    spellcheck: 'false',
    oninput: () => (render(), onQuery(filter.value)),
    onkeydown: (e) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        list.querySelector('.conv-link')?.focus();
      } else if (e.key === 'Escape' && filter.value) {
        e.preventDefault();
        filter.value = '';
        render();
        onQuery('');
      }
    },
  });
  list.addEventListener('keydown', (e) => {
    const links = [...list.querySelectorAll('.conv-link')];
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[e.key];
    if (to === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    if (to < 0) filter.focus();
    else links[Math.min(to, links.length - 1)].focus();
  });
  const items = new Map();
  let shown = [];

  function matches(c) {
    const q = fold(filter.value.trim());
    if (!q) return true;
    return fold(store.title(c)).includes(q) || fold(c.peer?.username ?? '').includes(q);
  }

  function item(id) {
    let it = items.get(id);
    if (it) return it;
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    const dot = h('span', { class: 'presence-dot', hidden: true });
    const title = h('span', { class: 'conv-title' });
    const time = h('time', { class: 'conv-time' });
    const last = h('span', { class: 'conv-last' });
    const badge = h('span', { class: 'badge', hidden: true });
    const muted = h('span', { class: 'conv-muted', hidden: true, role: 'img', 'aria-label': 'muted', title: 'Notifications off', text: '🔕' });
    const link = h(
      'a',
      {
        href: `/c/${id}`,
        class: 'conv-link',
        onclick: (event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          onOpen(id);
        },
      },
      h('span', { class: 'avatar-wrap' }, avatar, dot),
      h('span', { class: 'conv-body' }, h('span', { class: 'conv-row' }, title, time), h('span', { class: 'conv-row' }, last, muted, badge)),
    );
    const li = h('li', { class: 'conv-item', dataset: { conversationId: String(id) } }, link);
    it = { li, link, avatar, dot, title, time, last, badge, muted };
    items.set(id, it);
    return it;
  }

  function render() {
    const all = store.sortedConversations();
    const conversations = all.filter(matches);
    shown = conversations.map((c) => c.id);
    empty.hidden = !store.conversationsLoaded || conversations.length > 0;
    setText(empty, all.length ? `No chat matches “${filter.value.trim()}”.` : 'No conversations yet. Start one with “New chat”.');
    const wanted = new Set(conversations.map((c) => c.id));
    for (const [id, it] of items) {
      if (!wanted.has(id)) {
        it.li.remove();
        items.delete(id);
      }
    }
    let previous = null;
    for (const c of conversations) {
      const it = item(c.id);
      const title = store.title(c);
      setText(it.title, title);
      paintAvatar(it.avatar, title, c.kind === 'group' ? -c.id : c.peer?.id);
      it.avatar.classList.toggle('group', c.kind === 'group');
      const typers = store.isTyping(c.id);
      let lastText = '';
      const draft = c.id !== store.activeId ? store.drafts?.get(c.id) : '';
      if (typers.length) lastText = c.kind === 'group' ? `${store.userName(typers[0])} is typing…` : 'typing…';
      else if (draft) lastText = `Draft: ${preview(draft)}`;
      else if (c.last_message) {
        const who = c.last_message.sender_id === store.me?.id ? 'You: ' : c.kind === 'group' ? `${store.userName(c.last_message.sender_id)}: ` : '';
        lastText = who + (c.last_message.deleted ? 'Message deleted' : preview(c.last_message.text));
      } else lastText = c.kind === 'group' ? plural(c.member_count, 'member') : 'No messages yet';
      setText(it.last, lastText);
      it.last.classList.toggle('typing', typers.length > 0);
      it.last.classList.toggle('draft', !typers.length && !!draft);
      const ts = c.last_message?.server_ts ?? c.created_at;
      setText(it.time, ts ? formatListTime(ts) : '');
      const unread = store.unreadCount(c);
      it.badge.hidden = unread === 0;
      setText(it.badge, unread > 99 ? '99+' : String(unread));
      it.badge.setAttribute('aria-label', `${unread} unread`);
      const presence = c.peer ? store.presence.get(c.peer.id) : null;
      it.dot.hidden = !presence;
      it.dot.classList.toggle('online', !!presence?.online);
      it.dot.setAttribute('aria-label', presence?.online ? 'online' : 'offline');
      it.dot.setAttribute('role', 'img');
      it.muted.hidden = !c.muted;
      const active = store.activeId === c.id;
      it.li.classList.toggle('active', active);
      if (active) it.link.setAttribute('aria-current', 'page');
      else it.link.removeAttribute('aria-current');
      it.li.classList.toggle('unread', unread > 0);
      // Keep DOM order equal to the sorted order without moving nodes needlessly.
      const expectedNext = previous ? previous.nextSibling : list.firstChild;
      if (expectedNext !== it.li) list.insertBefore(it.li, expectedNext);
      previous = it.li;
    }
  }

  return {
    root,
    filter,
    render,
    focusFilter: () => (filter.focus(), filter.select()),
    /** The ids shown, in order (Alt+↑/↓ walks them). */
    shownIds: () => shown,
  };
}
