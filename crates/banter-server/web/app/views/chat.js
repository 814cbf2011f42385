// The open conversation: header (title, presence or typing, mute, members
// and, in a 1:1 chat, block as icon buttons), the connection state when not
// online (on a phone the sidebar's is out of sight), the message log, and
// the composer — or, when I blocked the peer or their account is gone, a
// line that says so instead.

import { paintAvatar } from '../avatar.js';
import { h, setText } from '../dom.js';
import { connectionText, formatLastSeen, plural } from '../format.js';
import { icon, setIcon } from '../icons.js';
import { displayName } from '../store.js';
import { composerView } from './composer.js';
import { messageLogView } from './message-log.js';

/**
 * @param {object} o
 * @param {import('../store.js').Store} o.store
 * @param {import('../client.js').Client} o.client
 * @param {ReturnType<import('./confirm.js').confirmDialog>} o.confirm
 * @param {() => void} o.onBack
 * @param {(id: number) => void} o.onShowMembers
 */
export function chatView({ store, client, confirm, onBack, onShowMembers }) {
  const title = h('h2', { class: 'chat-title', id: 'chat-title' });
  const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
  const dot = h('span', { class: 'presence-dot', hidden: true, role: 'img' });
  const subtitle = h('p', { class: 'chat-subtitle', id: 'chat-subtitle', 'aria-live': 'polite' });
  const membersButton = h('button', { type: 'button', class: 'icon-button', id: 'members-button', 'aria-label': 'Members', title: 'Members', onclick: () => onShowMembers(store.activeId) }, icon('members'));
  const muteButton = h('button', {
    type: 'button',
    class: 'icon-button',
    id: 'mute-button',
    'aria-pressed': 'false',
    onclick: async () => {
      const c = store.conversations.get(store.activeId);
      if (!c) return;
      muteButton.disabled = true;
      try {
        await client.conversations.setMuted(c.id, !c.muted);
      } catch (e) {
        store.notice = { kind: 'error', text: `Could not change notifications: ${e.message}` };
        store.changed();
      } finally {
        muteButton.disabled = false;
      }
    },
  });
  const blockButton = h('button', {
    type: 'button',
    class: 'icon-button',
    id: 'block-button',
    'aria-label': 'Block',
    title: 'Block: neither of you can send messages here',
    onclick: async () => {
      const c = store.conversations.get(store.activeId);
      if (!c?.peer) return;
      const name = displayName(c.peer);
      const ok = await confirm.ask({
        title: `Block ${name}?`,
        text: `Neither of you can send messages in this chat, and ${name} no longer sees when you are online or typing. ${name} is not told. You can unblock at any time.`,
        confirmLabel: 'Block',
      });
      if (ok) await changeBlock(() => client.blocks.block(c.peer), 'block');
    },
  }, icon('block'));
  const blockedText = h('span', { class: 'blocked-text', id: 'blocked-text' });
  const unblockButton = h('button', {
    type: 'button',
    id: 'unblock-button',
    text: 'Unblock',
    onclick: () => {
      const c = store.conversations.get(store.activeId);
      if (c?.peer) changeBlock(() => client.blocks.unblock(c.peer.id), 'unblock');
    },
  });
  const blockedLine = h('div', { class: 'blocked-line', id: 'blocked-line', role: 'status', hidden: true }, blockedText, unblockButton);

  async function changeBlock(change, what) {
    blockButton.disabled = unblockButton.disabled = true;
    try {
      await change();
    } catch (e) {
      store.notice = { kind: 'error', text: `Could not ${what}: ${e.message}` };
      store.changed();
    } finally {
      blockButton.disabled = unblockButton.disabled = false;
    }
  }

  const back = h('button', { type: 'button', class: 'icon-button back', 'aria-label': 'Back to conversations', title: 'Back', onclick: onBack }, icon('back'));
  const header = h(
    'header',
    { class: 'chat-head' },
    back,
    h('span', { class: 'avatar-wrap' }, avatar, dot),
    h('div', { class: 'chat-head-text' }, title, subtitle),
    muteButton,
    membersButton,
    blockButton,
  );
  const connection = h('p', { class: 'chat-connection', id: 'chat-connection', role: 'status', hidden: true });
  const log = messageLogView({
    store,
    client,
    onReply: (m) => composer.startReply(m),
    onEdit: (m) => composer.startEdit(m),
    onDelete: async (m) => {
      const ok = await confirm.ask({ title: 'Delete this message?', text: 'It is deleted for everyone in this conversation.', confirmLabel: 'Delete' });
      if (ok) client.deleteMessage(m.conversation_id, m.seq);
    },
  });
  const typingLine = h('p', { class: 'typing-line', id: 'typing-indicator', 'aria-live': 'polite' });
  const composer = composerView({ store, client, onSent: () => log.stickToBottom() });
  const emptyState = h(
    'div',
    { class: 'chat-empty' },
    h('img', { src: new URL('../../icons/icon-192.png', import.meta.url).pathname, alt: '', width: 96, height: 96 }),
    h('p', { text: 'Pick a conversation, or start a new one.' }),
  );
  const pane = h('section', { class: 'chat-pane', 'aria-labelledby': 'chat-title', hidden: true }, header, connection, log.root, typingLine, composer.root, blockedLine);
  const root = h('div', { class: 'chat', id: 'chat' }, emptyState, pane);

  let shownId = null;

  function render() {
    const c = store.activeId !== null ? store.conversations.get(store.activeId) : null;
    pane.hidden = !c;
    emptyState.hidden = !!c;
    if (!c) {
      shownId = null;
      return;
    }
    const switched = shownId !== c.id;
    shownId = c.id;
    const name = store.title(c);
    setText(title, name);
    paintAvatar(avatar, name, c.kind === 'group' ? -c.id : c.peer?.id);
    avatar.classList.toggle('group', c.kind === 'group');
    membersButton.hidden = c.kind !== 'group';
    // A 1:1 chat whose peer I blocked, or whose account is gone, takes no messages.
    const gone = !!c.peer?.deleted;
    const blocked = c.kind === 'direct' && !!c.peer && client.blocks.isBlocked(c.peer.id);
    const closed = blocked || gone;
    blockButton.hidden = c.kind !== 'direct' || !c.peer || closed;
    if (blockedLine.hidden === closed) blockedLine.hidden = !closed;
    if (composer.root.hidden !== closed) composer.root.hidden = closed;
    unblockButton.hidden = !blocked;
    setText(blockedText, gone ? 'This account was deleted.' : blocked ? `You blocked ${name}. Unblock to send messages.` : '');
    // A toggle keeps one name; aria-pressed says whether it is on.
    muteButton.setAttribute('aria-pressed', String(!!c.muted));
    muteButton.setAttribute('aria-label', 'Mute');
    setIcon(muteButton, c.muted ? 'bellOff' : 'bell');
    muteButton.title = c.muted ? 'Muted: notifications are off for this conversation' : 'Mute: turn off notifications for this conversation';
    const st = store.connection;
    connection.hidden = st.status === 'online';
    connection.dataset.state = st.status;
    setText(connection, connection.hidden ? '' : connectionText(st));

    const typers = store.isTyping(c.id);
    const typingText = typers.length === 0 ? '' : typers.length === 1 ? `${store.userName(typers[0])} is typing…` : `${typers.length} people are typing…`;
    setText(typingLine, typingText);

    let sub = '';
    if (c.kind === 'direct' && c.peer) {
      const p = store.presence.get(c.peer.id);
      dot.hidden = !p;
      dot.classList.toggle('online', !!p?.online);
      dot.setAttribute('aria-label', p?.online ? 'online' : 'offline');
      sub = typers.length ? 'typing…' : p ? (p.online ? 'online' : formatLastSeen(p.last_seen_at)) : c.peer.deleted ? '' : `@${c.peer.username}`;
    } else {
      dot.hidden = true;
      const members = store.members.get(c.id) ?? [];
      const online = members.filter((m) => m.user.id !== store.me?.id && store.presence.get(m.user.id)?.online).length;
      sub = plural(c.member_count, 'member') + (online ? `, ${online} online` : '');
    }
    setText(subtitle, sub);
    log.render(c, switched);
    composer.render(c, switched);
  }

  return { root, render, focusComposer: () => composer.focus() };
}
