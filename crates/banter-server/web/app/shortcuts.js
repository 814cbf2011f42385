// Keyboard shortcuts of the signed-in app: Ctrl/⌘+K finds a chat, Alt+↑/↓
// opens the previous/next chat of the list, "?" (outside text fields) lists
// the shortcuts. Escape closing a dialog is the native <dialog>'s; arrow keys
// inside the list are the list's own (conversation-list.js).

function typingInField(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

/**
 * @param {object} o
 * @param {() => void} o.findChat focus the chat filter
 * @param {(step: 1|-1) => void} o.moveChat open the next (1) or previous (-1) chat
 * @param {() => void} o.showHelp
 * @returns {() => void} removes the handler
 */
export function installShortcuts({ findChat, moveChat, showHelp }) {
  function onKey(e) {
    if (e.defaultPrevented || e.isComposing) return;
    if (document.querySelector('dialog[open]')) return; // a dialog has the keyboard
    if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      findChat();
    } else if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      moveChat(e.key === 'ArrowDown' ? 1 : -1);
    } else if (e.key === '?' && !e.ctrlKey && !e.metaKey && !e.altKey && !typingInField(e.target)) {
      e.preventDefault();
      showHelp();
    }
  }
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
