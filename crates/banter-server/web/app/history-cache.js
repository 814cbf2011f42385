// The newest messages of recently opened conversations, kept in
// localStorage so that an offline start (the service worker serves the app)
// shows the chat the user was reading, not an empty pane.
//
// A cache only: the server is the truth. On open the cached messages show at
// once and the newest page from the server is merged in (by seq) as soon as
// it arrives; a hole between them is filled by sync. Messages never change
// once stored, so a cached message cannot go stale. Bounded: the newest
// MESSAGES_PER_CONVERSATION messages (and at most MAX_CHARS of text) of the
// MAX_CONVERSATIONS most recently saved conversations. Logging out removes
// it with the rest of the device's storage.

const MESSAGES_PER_CONVERSATION = 50;
const MAX_CHARS = 200_000;
const MAX_CONVERSATIONS = 20;

export class HistoryCache {
  constructor(deviceId) {
    this.prefix = `banter.history.${deviceId}.`;
    this.indexKey = `banter.history.${deviceId}`;
  }

  /** Cached messages of a conversation, oldest first (empty when none). */
  load(conversationId) {
    try {
      const list = JSON.parse(localStorage.getItem(this.prefix + conversationId) || '[]');
      return Array.isArray(list) ? list.filter((m) => m && m.conversation_id === conversationId && Number.isInteger(m.seq)) : [];
    } catch {
      return [];
    }
  }

  /** Keeps the newest messages of `messages` (sorted by seq) for a conversation. */
  save(conversationId, messages) {
    const kept = [];
    let chars = 0;
    for (let i = messages.length - 1; i >= 0 && kept.length < MESSAGES_PER_CONVERSATION; i--) {
      chars += messages[i].text.length;
      if (chars > MAX_CHARS && kept.length) break;
      kept.push(messages[i]);
    }
    kept.reverse();
    try {
      localStorage.setItem(this.prefix + conversationId, JSON.stringify(kept));
      const index = this.index().filter((id) => id !== conversationId);
      index.unshift(conversationId);
      for (const evicted of index.splice(MAX_CONVERSATIONS)) localStorage.removeItem(this.prefix + evicted);
      localStorage.setItem(this.indexKey, JSON.stringify(index));
    } catch {
      /* storage full: the cache is only a convenience */
    }
  }

  forget(conversationId) {
    localStorage.removeItem(this.prefix + conversationId);
    localStorage.setItem(this.indexKey, JSON.stringify(this.index().filter((id) => id !== conversationId)));
  }

  /** Removes every cached conversation of this device. */
  clear() {
    for (const id of this.index()) localStorage.removeItem(this.prefix + id);
    localStorage.removeItem(this.indexKey);
  }

  index() {
    try {
      const index = JSON.parse(localStorage.getItem(this.indexKey) || '[]');
      return Array.isArray(index) ? index.filter(Number.isInteger) : [];
    } catch {
      return [];
    }
  }
}
