// A confirmation before something that cannot be undone (leave a group,
// remove a member, log out): a real modal <dialog>, not window.confirm, so it
// looks like the app, works under the CSP and can be driven by keyboard.
// Cancel has the focus first; Escape cancels.

import { h } from '../dom.js';

export function confirmDialog() {
  const title = h('h2', { id: 'confirm-dialog-title' });
  const text = h('p', { id: 'confirm-dialog-text' });
  const cancel = h('button', { type: 'button', id: 'confirm-cancel', text: 'Cancel', onclick: () => dialog.close('cancel') });
  const ok = h('button', { type: 'button', id: 'confirm-ok', class: 'danger-fill', onclick: () => dialog.close('ok') });
  const dialog = h(
    'dialog',
    { id: 'confirm-dialog', role: 'alertdialog', 'aria-labelledby': 'confirm-dialog-title', 'aria-describedby': 'confirm-dialog-text' },
    title,
    text,
    h('div', { class: 'dialog-actions' }, cancel, ok),
  );
  let settle = null;
  dialog.addEventListener('close', () => {
    const done = settle;
    settle = null;
    done?.(dialog.returnValue === 'ok');
  });

  return {
    root: dialog,
    /** Resolves true when confirmed, false when cancelled (button, Escape). */
    ask({ title: heading, text: body, confirmLabel }) {
      if (dialog.open) dialog.close('cancel');
      title.textContent = heading;
      text.textContent = body;
      ok.textContent = confirmLabel;
      dialog.returnValue = '';
      return new Promise((resolve) => {
        settle = resolve;
        dialog.showModal();
        cancel.focus();
      });
    },
  };
}
