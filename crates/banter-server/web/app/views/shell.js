// The signed-in layout: a sidebar (me and my actions as icon buttons, a
// filter and the new chat / new group buttons, the connection state when
// not online, notification prompts, the conversation list) and the chat
// pane. On a narrow screen only one of the two shows: the list at `/`, the
// chat at `/c/<id>`. The whole layout is the page's one main landmark.

import { paintAvatar } from '../avatar.js';
import { h, setText } from '../dom.js';
import { connectionText } from '../format.js';
import { icon } from '../icons.js';
import { enablePush, pushSupported } from '../push.js';
import { installShortcuts } from '../shortcuts.js';
import { displayName } from '../store.js';
import { chatView } from './chat.js';
import { confirmDialog } from './confirm.js';
import { conversationListView } from './conversation-list.js';
import { messageSearchView } from './message-search.js';
import { membersDialog, newChatDialog, newGroupDialog, settingsDialog } from './dialogs.js';
import { helpDialog } from './help.js';

const PUSH_DISMISSED = 'banter.push-prompt-dismissed';
const BLOCKED_DISMISSED = 'banter.push-blocked-dismissed';

/** A button that shows an icon; its name is for screen readers and tooltips. */
function iconButton(id, iconName, label, onclick, extraClass = '') {
  return h('button', { type: 'button', id, class: `icon-button ${extraClass}`.trim(), 'aria-label': label, title: label, onclick }, icon(iconName));
}

/**
 * @param {object} o
 * @param {import('../store.js').Store} o.store
 * @param {import('../client.js').Client} o.client
 * @param {ReturnType<import('../api.js').createApi>} o.api
 * @param {(id: number|null) => void} o.navigateTo
 * @param {() => void} o.onLogout
 * @param {() => void} o.onAccountDeleted
 */
export function shellView({ store, client, api, navigateTo, onLogout, onAccountDeleted }) {
  const open = (id) => navigateTo(id);
  const confirm = confirmDialog();
  const help = helpDialog();
  const newChat = newChatDialog({ client, onOpen: open });
  const newGroup = newGroupDialog({ client, onOpen: open });
  const members = membersDialog({ store, client, confirm, onLeft: () => navigateTo(null) });
  const settings = settingsDialog({ store, api, client, confirm, onAccountDeleted });

  const meAvatar = h('span', { class: 'avatar small', 'aria-hidden': 'true' });
  const meName = h('span', { class: 'me-name', id: 'me-name' });
  const connection = h('div', { class: 'connection', id: 'connection-status', role: 'status', 'aria-live': 'polite' });
  const retryNow = h('button', { type: 'button', class: 'link', text: 'Retry now', onclick: () => client.socket.reconnectNow() });
  const connectionLine = h('span');
  connection.append(h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), connectionLine, retryNow);

  const pushBanner = h(
    'div',
    { class: 'banner', id: 'push-banner', hidden: true },
    h('span', { text: 'Get notified about new messages.' }),
    h('button', {
      type: 'button',
      class: 'primary small',
      text: 'Enable',
      onclick: async () => {
        pushBanner.hidden = true;
        localStorage.setItem(PUSH_DISMISSED, '1');
        try {
          await enablePush(api);
        } catch (e) {
          store.notice = { kind: 'error', text: `Notifications could not be enabled: ${e.message}` };
        }
        // Denied: the blocked banner (render) says so and how to undo it.
        store.changed();
      },
    }),
    h('button', { type: 'button', class: 'link', text: 'Not now', onclick: () => (localStorage.setItem(PUSH_DISMISSED, '1'), (pushBanner.hidden = true)) }),
  );
  const blockedBanner = h(
    'div',
    { class: 'banner', id: 'push-blocked', role: 'status', hidden: true },
    h('span', {
      text: 'Notifications are blocked for this site. To get them, allow notifications in your browser’s site settings (the icon next to the address), then reload.',
    }),
    h('button', { type: 'button', class: 'link', text: 'Dismiss', onclick: () => (localStorage.setItem(BLOCKED_DISMISSED, '1'), (blockedBanner.hidden = true)) }),
  );
  const notice = h('div', { class: 'notice', id: 'notice', role: 'alert', hidden: true });
  const noticeText = h('span');
  notice.append(noticeText, h('button', { type: 'button', class: 'link', text: 'Dismiss', onclick: () => ((store.notice = null), store.changed()) }));

  // A found message opens its chat, which then scrolls to it (message-log.js).
  const found = messageSearchView({ store, api, onOpen: (id, seq) => ((store.pendingJump = { conversationId: id, seq }), open(id)) });
  const list = conversationListView({ store, onOpen: open, onQuery: found.query });
  list.root.append(found.root);
  const chat = chatView({ store, client, confirm, onBack: () => navigateTo(null), onShowMembers: (id) => members.open(id) });

  async function logout() {
    const ok = await confirm.ask({
      title: 'Log out?',
      text: 'Messages not yet sent and drafts on this device are deleted. You can log in again at any time.',
      confirmLabel: 'Log out',
    });
    if (ok) onLogout();
  }

  const sidebar = h(
    'div',
    { class: 'sidebar' },
    h(
      'header',
      { class: 'sidebar-head' },
      h('span', { class: 'me' }, meAvatar, meName),
      h(
        'span',
        { class: 'head-actions' },
        iconButton('help-button', 'help', 'Keyboard shortcuts', () => help.open()),
        iconButton('settings-button', 'settings', 'Settings', () => settings.open()),
        iconButton('logout-button', 'logout', 'Log out', logout),
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      list.filter,
      iconButton('new-chat-button', 'newChat', 'New chat', () => newChat.showModal(), 'primary'),
      iconButton('new-group-button', 'newGroup', 'New group', () => newGroup.showModal()),
    ),
    connection,
    pushBanner,
    blockedBanner,
    notice,
    list.root,
  );
  // The page's heading, outside the sidebar: on a phone the sidebar is
  // hidden while a chat is open.
  const root = h('main', { class: 'shell' }, h('h1', { class: 'sr-only', text: 'Banter' }), sidebar, chat.root, newChat, newGroup, members.root, settings.root, help.root, confirm.root);

  function moveChat(step) {
    const ids = list.shownIds();
    if (!ids.length) return;
    const at = ids.indexOf(store.activeId);
    const next = at < 0 ? (step > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, at + step));
    if (ids[next] !== store.activeId) navigateTo(ids[next]);
  }
  const removeShortcuts = installShortcuts({ findChat: () => list.focusFilter(), moveChat, showHelp: () => help.open() });

  function render() {
    const name = store.me ? displayName(store.me) : '';
    setText(meName, name);
    meName.title = name;
    paintAvatar(meAvatar, name, store.me?.id);
    const st = store.connection;
    connection.dataset.state = st.status;
    // 'websocket', or 'events' where a proxy blocks WebSockets (socket.js).
    if (st.transport) connection.dataset.transport = st.transport;
    // Being online is the normal state: only its absence takes room.
    connection.hidden = st.status === 'online';
    setText(connectionLine, connectionText(st));
    retryNow.hidden = st.status !== 'waiting' && st.status !== 'offline';
    const permission = pushSupported() ? Notification.permission : 'unsupported';
    pushBanner.hidden = !(permission === 'default' && !localStorage.getItem(PUSH_DISMISSED));
    blockedBanner.hidden = !(permission === 'denied' && !localStorage.getItem(BLOCKED_DISMISSED));
    notice.hidden = !store.notice;
    setText(noticeText, store.notice?.text ?? '');
    root.dataset.view = store.activeId !== null ? 'chat' : 'list';
    list.render();
    chat.render();
    members.render();
    settings.render();
  }

  return { root, render, focusComposer: () => chat.focusComposer(), dispose: removeShortcuts };
}
