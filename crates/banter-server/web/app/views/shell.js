// The signed-in layout: a sidebar (me, actions, connection state,
// notification prompt, conversation list) and the chat pane. On a narrow
// screen only one of the two shows: the list at `/`, the chat at `/c/<id>`.

import { h, setText } from '../dom.js';
import { initials } from '../format.js';
import { enablePush, pushSupported } from '../push.js';
import { chatView } from './chat.js';
import { conversationListView } from './conversation-list.js';
import { membersDialog, newChatDialog, newGroupDialog, settingsDialog } from './dialogs.js';

const PUSH_DISMISSED = 'banter.push-prompt-dismissed';

/**
 * @param {object} o
 * @param {import('../store.js').Store} o.store
 * @param {import('../client.js').Client} o.client
 * @param {ReturnType<import('../api.js').createApi>} o.api
 * @param {(id: number|null) => void} o.navigateTo
 * @param {() => void} o.onLogout
 */
export function shellView({ store, client, api, navigateTo, onLogout }) {
  const open = (id) => navigateTo(id);
  const newChat = newChatDialog({ client, onOpen: open });
  const newGroup = newGroupDialog({ client, onOpen: open });
  const members = membersDialog({ store, client, onLeft: () => navigateTo(null) });
  const settings = settingsDialog({ store, api });

  const meAvatar = h('span', { class: 'avatar small', 'aria-hidden': 'true' });
  const meName = h('span', { class: 'me-name', id: 'me-name' });
  const connection = h('div', { class: 'connection', id: 'connection-status', role: 'status', 'aria-live': 'polite' });
  const retryNow = h('button', { type: 'button', class: 'link', text: 'Retry now', onclick: () => client.socket.reconnectNow() });
  const connectionText = h('span');
  connection.append(h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), connectionText, retryNow);

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
        try {
          await enablePush(api);
        } catch (e) {
          store.notice = { kind: 'error', text: `Notifications could not be enabled: ${e.message}` };
          store.changed();
        }
        localStorage.setItem(PUSH_DISMISSED, '1');
      },
    }),
    h('button', { type: 'button', class: 'link', text: 'Not now', onclick: () => (localStorage.setItem(PUSH_DISMISSED, '1'), (pushBanner.hidden = true)) }),
  );
  const notice = h('div', { class: 'notice', id: 'notice', role: 'alert', hidden: true });
  const noticeText = h('span');
  notice.append(noticeText, h('button', { type: 'button', class: 'link', text: 'Dismiss', onclick: () => ((store.notice = null), store.changed()) }));

  const list = conversationListView({ store, onOpen: open });
  const chat = chatView({ store, client, onBack: () => navigateTo(null), onShowMembers: (id) => members.open(id) });

  const sidebar = h(
    'aside',
    { class: 'sidebar', 'aria-label': 'Conversations and account' },
    h(
      'header',
      { class: 'sidebar-head' },
      h('span', { class: 'me' }, meAvatar, meName),
      h(
        'span',
        { class: 'head-actions' },
        h('button', { type: 'button', id: 'settings-button', class: 'link', text: 'Settings', onclick: () => settings.open() }),
        h('button', { type: 'button', id: 'logout-button', class: 'link', text: 'Log out', onclick: onLogout }),
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', id: 'new-chat-button', class: 'primary', text: 'New chat', onclick: () => newChat.showModal() }),
      h('button', { type: 'button', id: 'new-group-button', text: 'New group', onclick: () => newGroup.showModal() }),
    ),
    connection,
    pushBanner,
    notice,
    list.root,
  );
  const root = h('div', { class: 'shell' }, sidebar, chat.root, newChat, newGroup, members.root, settings.root);

  const CONNECTION_TEXT = {
    connecting: 'Connecting…',
    online: 'Connected',
    offline: 'Offline. Messages you send will go out when the connection returns.',
    stopped: 'Disconnected',
  };

  function render() {
    const name = store.me ? store.me.display_name || store.me.username : '';
    setText(meName, name);
    setText(meAvatar, initials(name || '?'));
    const st = store.connection;
    connection.dataset.state = st.status;
    const text =
      st.status === 'waiting'
        ? `Connection lost. Reconnecting in ${Math.max(1, Math.round(st.retryInMs / 1000))} s…`
        : CONNECTION_TEXT[st.status] || st.status;
    setText(connectionText, text);
    retryNow.hidden = st.status !== 'waiting' && st.status !== 'offline';
    pushBanner.hidden = !(pushSupported() && Notification.permission === 'default' && !localStorage.getItem(PUSH_DISMISSED));
    notice.hidden = !store.notice;
    setText(noticeText, store.notice?.text ?? '');
    root.dataset.view = store.activeId !== null ? 'chat' : 'list';
    list.render();
    chat.render();
    members.render();
  }

  return { root, render, focusComposer: () => chat.focusComposer() };
}
