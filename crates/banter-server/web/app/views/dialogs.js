// Modal dialogs (native <dialog>: focus is trapped, Escape closes): start a
// 1:1 chat, create a group, and a group's members (add, remove, leave; the
// last two after a confirmation).

import { paintAvatar } from '../avatar.js';
import { h, replaceChildren } from '../dom.js';
import { formatLastSeen, plural } from '../format.js';
import { displayName } from '../store.js';
import { accountSections } from './account.js';

function splitNames(text) {
  return text.split(/[\s,]+/).map((s) => s.replace(/^@/, '')).filter(Boolean);
}

/**
 * A dialog with a form. `onSubmit(form)` may throw to show an error; what it
 * returns, if a function, runs after the dialog closed (so focus can move on
 * instead of returning to the button that opened the dialog).
 */
function formDialog({ id, title, fields, submitLabel, onSubmit }) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', text: submitLabel });
  const dialog = h('dialog', { id, 'aria-labelledby': `${id}-title` });
  const form = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          const then = await onSubmit(form);
          dialog.close();
          if (typeof then === 'function') then();
        } catch (err) {
          error.textContent = err.message || String(err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('h2', { id: `${id}-title`, text: title }),
    fields,
    error,
    h('div', { class: 'dialog-actions' }, h('button', { type: 'button', text: 'Cancel', onclick: () => dialog.close() }), submit),
  );
  dialog.append(form);
  dialog.addEventListener('close', () => {
    form.reset();
    error.textContent = '';
  });
  return dialog;
}

export function newChatDialog({ client, onOpen }) {
  const username = h('input', { id: 'new-chat-username', name: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off' });
  return formDialog({
    id: 'new-chat-dialog',
    title: 'New chat',
    submitLabel: 'Start chat',
    fields: h('div', { class: 'field' }, h('label', { for: 'new-chat-username', text: 'Username' }), username),
    onSubmit: async () => {
      const id = await client.conversations.startDirect(username.value.replace(/^@/, ''));
      return () => onOpen(id);
    },
  });
}

export function newGroupDialog({ client, onOpen }) {
  const name = h('input', { id: 'new-group-name', name: 'name', required: true, maxlength: 64 });
  const members = h('input', { id: 'new-group-members', name: 'members', autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off', placeholder: 'bob, carol' });
  return formDialog({
    id: 'new-group-dialog',
    title: 'New group',
    submitLabel: 'Create group',
    fields: [
      h('div', { class: 'field' }, h('label', { for: 'new-group-name', text: 'Group name' }), name),
      h('div', { class: 'field' }, h('label', { for: 'new-group-members', text: 'Members (usernames, separated by commas)' }), members),
    ],
    onSubmit: async () => {
      const id = await client.conversations.createGroup(name.value, splitNames(members.value));
      return () => onOpen(id);
    },
  });
}

/** The members of a group, with presence; admins add and remove, anyone leaves. */
export function membersDialog({ store, client, confirm, onLeft }) {
  const list = h('ul', { class: 'member-list', id: 'member-list' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const addInput = h('input', { id: 'add-members-input', autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off', placeholder: 'username, …' });
  const addForm = h(
    'form',
    {
      class: 'add-members',
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        try {
          await client.conversations.addMembers(conversationId, splitNames(addInput.value));
          addInput.value = '';
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
    h('label', { for: 'add-members-input', text: 'Add members' }),
    h('div', { class: 'composer-row' }, addInput, h('button', { type: 'submit', text: 'Add' })),
  );
  const leave = h('button', {
    type: 'button',
    class: 'danger',
    id: 'leave-group',
    text: 'Leave group',
    onclick: async () => {
      error.textContent = '';
      const id = conversationId;
      const c = store.conversations.get(id);
      const ok = await confirm.ask({
        title: `Leave ${c ? store.title(c) : 'this group'}?`,
        text: 'You will no longer get its messages. A member who is an admin can add you again.',
        confirmLabel: 'Leave group',
      });
      if (!ok || id !== conversationId || !dialog.open) return;
      try {
        await client.conversations.removeMember(id, store.me.id);
        dialog.close();
        onLeft(id);
      } catch (err) {
        error.textContent = err.message;
      }
    },
  });
  const title = h('h2', { id: 'members-dialog-title', text: 'Members' });
  const dialog = h(
    'dialog',
    { id: 'members-dialog', 'aria-labelledby': 'members-dialog-title' },
    title,
    list,
    addForm,
    error,
    h('div', { class: 'dialog-actions' }, leave, h('button', { type: 'button', text: 'Close', onclick: () => dialog.close() })),
  );
  let conversationId = null;
  let shown = null;

  function render() {
    if (!dialog.open || conversationId === null) return;
    const c = store.conversations.get(conversationId);
    const members = store.members.get(conversationId) ?? [];
    title.textContent = c ? `${store.title(c)} · ${plural(members.length, 'member')}` : 'Members';
    const iAmAdmin = members.some((m) => m.user.id === store.me?.id && m.role === 'admin');
    addForm.hidden = !iAmAdmin;
    // Rebuild only when something shown changed, so focus stays put.
    const signature = JSON.stringify([iAmAdmin, members.map((m) => [m.user.id, m.role, m.user.display_name, store.presence.get(m.user.id)])]);
    if (signature === shown) return;
    shown = signature;
    replaceChildren(
      list,
      members.map((m) => {
        const p = store.presence.get(m.user.id);
        const isMe = m.user.id === store.me?.id;
        const name = displayName(m.user);
        return h(
          'li',
          { class: 'member', dataset: { userId: String(m.user.id), username: m.user.username } },
          h('span', { class: 'avatar-wrap' }, paintAvatar(h('span', { class: 'avatar', 'aria-hidden': 'true' }), name, m.user.id), p ? h('span', { class: 'presence-dot' + (p.online ? ' online' : ''), role: 'img', 'aria-label': p.online ? 'online' : 'offline' }) : null),
          h(
            'span',
            { class: 'member-text' },
            h('span', { class: 'member-name', text: isMe ? `${name} (you)` : name }),
            h('span', { class: 'member-sub', text: [m.user.deleted ? null : `@${m.user.username}`, m.role === 'admin' ? 'admin' : null, p ? (p.online ? 'online' : formatLastSeen(p.last_seen_at)) : null].filter(Boolean).join(' · ') }),
          ),
          iAmAdmin && !isMe
            ? h('button', {
                type: 'button',
                class: 'link danger',
                text: 'Remove',
                'aria-label': `Remove ${name}`,
                onclick: async () => {
                  error.textContent = '';
                  const id = conversationId;
                  const c = store.conversations.get(id);
                  const ok = await confirm.ask({
                    title: `Remove ${name}?`,
                    text: `${name} will no longer get the messages of ${c ? store.title(c) : 'this group'}.`,
                    confirmLabel: 'Remove',
                  });
                  if (!ok || id !== conversationId) return;
                  try {
                    await client.conversations.removeMember(id, m.user.id);
                  } catch (err) {
                    error.textContent = err.message;
                  }
                },
              })
            : null,
        );
      }),
    );
  }

  return {
    root: dialog,
    render,
    open(id) {
      conversationId = id;
      shown = null;
      error.textContent = '';
      dialog.showModal();
      render();
      client.conversations.loadDetail(id);
    },
  };
}

/**
 * The account: display name, the devices logged in (any can be signed
 * out), and account.js's blocked users, data download and deletion.
 */
export function settingsDialog({ store, api, client, confirm, onAccountDeleted }) {
  const account = accountSections({ store, api, client, confirm, onAccountDeleted: () => (dialog.close(), onAccountDeleted()) });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const saved = h('p', { class: 'form-note', id: 'settings-saved', role: 'status' });
  const displayName = h('input', { id: 'settings-display-name', name: 'display_name', required: true, maxlength: 64, autocomplete: 'name' });
  const profileForm = h(
    'form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = '';
        saved.textContent = '';
        try {
          const user = await api.updateProfile(displayName.value.trim());
          store.me = user;
          store.rememberUser(user);
          store.changed();
          saved.textContent = 'Saved.';
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'settings-display-name', text: 'Display name' }), h('div', { class: 'composer-row' }, displayName, h('button', { type: 'submit', class: 'primary', text: 'Save' }))),
  );
  const devices = h('ul', { class: 'member-list', id: 'device-list', 'aria-label': 'Devices' });

  async function loadDevices() {
    let list;
    try {
      list = await api.devices();
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    list.sort((a, b) => b.last_active_at - a.last_active_at);
    replaceChildren(
      devices,
      list.map((d) => {
        const current = d.id === store.deviceId;
        return h(
          'li',
          { class: 'member device', dataset: { deviceId: String(d.id) } },
          h(
            'span',
            { class: 'member-text' },
            h('span', { class: 'member-name', text: current ? `${d.name} (this device)` : d.name }),
            h('span', { class: 'member-sub', text: `active ${formatLastSeen(d.last_active_at).replace(/^last seen /, '')}` }),
          ),
          current
            ? null
            : h('button', {
                type: 'button',
                class: 'link danger',
                text: 'Sign out',
                'aria-label': `Sign out ${d.name}`,
                onclick: async () => {
                  error.textContent = '';
                  try {
                    await api.revokeDevice(d.id);
                    await loadDevices();
                  } catch (err) {
                    error.textContent = err.message;
                  }
                },
              }),
        );
      }),
    );
  }

  const dialog = h(
    'dialog',
    { id: 'settings-dialog', 'aria-labelledby': 'settings-dialog-title' },
    h('h2', { id: 'settings-dialog-title', text: 'Settings' }),
    profileForm,
    saved,
    h('h3', { text: 'Devices' }),
    devices,
    error,
    account.root,
    h('div', { class: 'dialog-actions' }, h('button', { type: 'button', text: 'Close', onclick: () => dialog.close() })),
  );

  return {
    root: dialog,
    render() {
      if (dialog.open) account.render();
    },
    open() {
      account.open();
      error.textContent = '';
      saved.textContent = '';
      displayName.value = store.me?.display_name || store.me?.username || '';
      dialog.showModal();
      loadDevices();
    },
  };
}
