// The keyboard shortcuts, listed in a dialog ("?" or the Help button).
// shortcuts.js is what makes them work; this list is what people read.

import { h } from '../dom.js';

const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const MOD = isMac ? '⌘' : 'Ctrl';

const SHORTCUTS = [
  [[MOD, 'K'], 'Find a chat'],
  [['Alt', '↑'], 'Previous chat'],
  [['Alt', '↓'], 'Next chat'],
  [['↑', '↓'], 'Move within the chat list'],
  [['Enter'], 'Send the message (Shift+Enter: new line)'],
  [['Esc'], 'Close a dialog'],
  [['?'], 'Show this list'],
];

export function helpDialog() {
  const dialog = h(
    'dialog',
    { id: 'help-dialog', 'aria-labelledby': 'help-dialog-title' },
    h('h2', { id: 'help-dialog-title', text: 'Keyboard shortcuts' }),
    h(
      'dl',
      { class: 'shortcut-list' },
      SHORTCUTS.map(([keys, what]) => [
        h('dt', {}, keys.map((k, i) => [i ? ' ' : null, h('kbd', { text: k })])),
        h('dd', { text: what }),
      ]),
    ),
    h('div', { class: 'dialog-actions' }, h('button', { type: 'button', text: 'Close', onclick: () => dialog.close() })),
  );
  return { root: dialog, open: () => dialog.showModal() };
}
