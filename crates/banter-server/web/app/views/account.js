// The settings dialog's account sections: the users I blocked (each with
// Unblock), "Download my data" (the export as one JSON file) and "Delete my
// account" (password, then a confirmation; the server's refusal is shown).

import { exportMyData, saveFile } from '../data-export.js';
import { h, replaceChildren, setText } from '../dom.js';
import { plural } from '../format.js';
import { displayName } from '../store.js';

/**
 * @param {object} o
 * @param {import('../store.js').Store} o.store
 * @param {ReturnType<import('../api.js').createApi>} o.api
 * @param {import('../client.js').Client} o.client
 * @param {ReturnType<import('./confirm.js').confirmDialog>} o.confirm
 * @param {() => void} o.onAccountDeleted the account is gone: end the session here
 */
export function accountSections({ store, api, client, confirm, onAccountDeleted }) {
  // Blocked users.
  const blockedList = h('ul', { class: 'member-list', id: 'blocked-list', 'aria-label': 'Blocked users' });
  const blockedEmpty = h('p', { class: 'form-note', id: 'blocked-empty', text: 'You have not blocked anyone.', hidden: true });
  const blockedError = h('p', { class: 'form-error', role: 'alert' });
  let shownBlocked = null;

  function renderBlocked() {
    const users = [...store.blocked.values()];
    const signature = JSON.stringify([store.blockedLoaded, users.map((u) => [u.id, u.display_name, u.username])]);
    if (signature === shownBlocked) return;
    shownBlocked = signature;
    blockedEmpty.hidden = !store.blockedLoaded || users.length > 0;
    replaceChildren(
      blockedList,
      users.map((u) => {
        const name = displayName(u);
        return h(
          'li',
          { class: 'member', dataset: { userId: String(u.id) } },
          h('span', { class: 'member-text' }, h('span', { class: 'member-name', text: name }), h('span', { class: 'member-sub', text: `@${u.username}` })),
          h('button', {
            type: 'button',
            class: 'link',
            text: 'Unblock',
            'aria-label': `Unblock ${name}`,
            onclick: async () => {
              blockedError.textContent = '';
              try {
                await client.blocks.unblock(u.id);
              } catch (err) {
                blockedError.textContent = err.message;
              }
            },
          }),
        );
      }),
    );
  }

  // Download my data.
  const exportStatus = h('p', { class: 'form-note', id: 'export-status', role: 'status' });
  const exportButton = h('button', {
    type: 'button',
    id: 'export-button',
    text: 'Download my data',
    onclick: async () => {
      exportButton.disabled = true;
      setText(exportStatus, 'Preparing your data…');
      try {
        const { blob, user, count } = await exportMyData(api);
        const day = new Date().toISOString().slice(0, 10);
        saveFile(blob, `banter-${user.username}-${day}.json`);
        setText(exportStatus, `Saved: your profile and ${plural(count, 'message')}.`);
      } catch (err) {
        setText(exportStatus, `Could not download your data: ${err.message}`);
      } finally {
        exportButton.disabled = false;
      }
    },
  });

  // Delete my account.
  const password = h('input', { id: 'delete-password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
  const deleteError = h('p', { class: 'form-error', id: 'delete-error', role: 'alert' });
  const deleteForm = h(
    'form',
    {
      id: 'delete-account-form',
      onsubmit: async (e) => {
        e.preventDefault();
        deleteError.textContent = '';
        const ok = await confirm.ask({
          title: 'Delete your account?',
          text: 'This cannot be undone. You are signed out everywhere, your username stays taken, and the messages you sent stay in their conversations from "Deleted user".',
          confirmLabel: 'Delete account',
        });
        if (!ok) return;
        try {
          await api.deleteAccount(password.value);
        } catch (err) {
          deleteError.textContent = err.message;
          return;
        }
        onAccountDeleted();
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'delete-password', text: 'Password' }), h('div', { class: 'composer-row' }, password, h('button', { type: 'submit', class: 'danger', id: 'delete-account-button', text: 'Delete my account' }))),
    deleteError,
  );

  const root = [
    h('h3', { text: 'Blocked users' }),
    blockedList,
    blockedEmpty,
    blockedError,
    h('h3', { text: 'Your data' }),
    h('p', { class: 'form-note', text: 'Your profile and every message you sent, as a JSON file.' }),
    exportButton,
    exportStatus,
    h('h3', { text: 'Delete account' }),
    deleteForm,
  ];

  return {
    root,
    render: renderBlocked,
    open() {
      blockedError.textContent = '';
      deleteError.textContent = '';
      setText(exportStatus, '');
      password.value = '';
      shownBlocked = null;
      renderBlocked();
      client.blocks.load();
    },
  };
}
