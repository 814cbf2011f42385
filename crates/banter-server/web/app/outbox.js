// Messages typed but not yet acknowledged, persisted in localStorage so they
// survive a reload, a lost connection or a closed tab. Each entry keeps the
// client_msg_id it was first sent with: a resend after reconnecting reuses
// it, and the server answers a resend of a stored message with the original
// ack instead of storing it twice. Tabs of one browser share the outbox (they
// are one device), so any tab that is online can flush it.

/** A fresh client_msg_id: 22 characters of [A-Za-z0-9_-] (works without a secure context). */
export function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Error codes after which resending cannot help: the entry is marked failed. */
const PERMANENT = new Set([
  'message_empty', 'message_too_long', 'invalid_text', 'invalid_client_msg_id', 'client_msg_id_reused', 'not_a_member', 'invalid_json',
  'invalid_reply', 'message_not_found', 'not_your_message', 'message_deleted', 'edit_window_closed', 'too_many_edits',
  // A block stands between me and the peer (either way), or the peer's account is gone.
  'blocked',
]);

/**
 * The frame that stores an outbox entry: a `send` (maybe a reply), or an
 * `edit` / `delete` of one of my messages (`kind`, `target_seq`).
 */
export function frameOf(entry) {
  const base = { client_msg_id: entry.client_msg_id, conversation_id: entry.conversation_id };
  if (entry.kind === 'edit') return { type: 'edit', ...base, seq: entry.target_seq, text: entry.text };
  if (entry.kind === 'delete') return { type: 'delete', ...base, seq: entry.target_seq };
  const frame = { type: 'send', ...base, text: entry.text };
  if (entry.reply_to) frame.reply_to = entry.reply_to;
  return frame;
}

export class Outbox {
  constructor(storageKey) {
    this.key = storageKey;
    this.listeners = new Set();
    this.entries = this.read();
    this.onStorage = (event) => {
      if (event.key !== this.key) return;
      this.entries = this.read();
      this.emit({ fromOtherTab: true });
    };
    window.addEventListener('storage', this.onStorage);
  }

  dispose() {
    window.removeEventListener('storage', this.onStorage);
  }

  read() {
    try {
      const list = JSON.parse(localStorage.getItem(this.key) || '[]');
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  }

  write() {
    localStorage.setItem(this.key, JSON.stringify(this.entries));
    this.emit({ fromOtherTab: false });
  }

  onChange(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `change.fromOtherTab`: another tab of this browser changed the outbox. */
  emit(change) {
    for (const l of this.listeners) l(change);
  }

  /** Entries in the order they were typed, optionally for one conversation. */
  list(conversationId) {
    return conversationId === undefined ? [...this.entries] : this.entries.filter((e) => e.conversation_id === conversationId);
  }

  /** Entries that should be (re)sent now. */
  sendable() {
    return this.entries.filter((e) => !e.failed);
  }

  get(clientMsgId) {
    return this.entries.find((e) => e.client_msg_id === clientMsgId);
  }

  /** `extra`: `{reply_to}` for a reply, `{kind: 'edit'|'delete', target_seq}` for a change. */
  add(conversationId, text, extra = {}) {
    const entry = { client_msg_id: newClientMsgId(), conversation_id: conversationId, text, created_at: Date.now(), failed: null, ...extra };
    this.entries.push(entry);
    this.write();
    return entry;
  }

  remove(clientMsgId) {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.client_msg_id !== clientMsgId);
    if (this.entries.length !== before) this.write();
  }

  /** Records a refusal. Returns true when the entry will not be retried. */
  refuse(clientMsgId, code, message) {
    const entry = this.get(clientMsgId);
    if (!entry || !PERMANENT.has(code)) return false;
    entry.failed = { code, message };
    this.write();
    return true;
  }

  retry(clientMsgId) {
    const entry = this.get(clientMsgId);
    if (!entry) return;
    entry.failed = null;
    this.write();
  }
}
