// What the page knows, in one place, and a change signal. The client engine
// (client.js) writes it; the views read it and re-render on `changed`.

import { Timeline } from './timeline.js';

/** The name to show for a user: a deleted account has none left (PROTOCOL.md, "Leaving for good"). */
export function displayName(user) {
  if (user.deleted) return 'Deleted user';
  return user.display_name || user.username;
}

export class Store {
  constructor() {
    this.me = null;
    this.deviceId = null;
    this.connection = { status: 'connecting' };
    this.features = { presence: false };
    this.limits = { max_message_chars: 100_000 };
    /** id → Conversation as sent by the server, kept current by frames. */
    this.conversations = new Map();
    this.conversationsLoaded = false;
    /** id → [Member] (with delivered_seq/read_seq when the server has them). */
    this.members = new Map();
    /** id → User, from every source (peers, members, me). */
    this.users = new Map();
    /** user id → {online, last_seen_at}. */
    this.presence = new Map();
    /** conversation id → Map(user id → expires at ms). */
    this.typing = new Map();
    this.timelines = new Map();
    /** user id → User I have blocked (GET /blocks, fetched once per session, then kept by `blocks_changed`), most recent first. */
    this.blocked = new Map();
    this.blockedLoaded = false;
    this.activeId = null;
    this.notice = null; // {kind: 'error'|'info', text}
    this.pendingJump = null; // {conversationId, seq}: a found message to scroll to once its chat is open
    this.listeners = new Set();
    this.scheduled = false;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Schedules one notification of every listener for this frame. */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const l of this.listeners) l(this);
    });
  }

  timeline(conversationId) {
    let t = this.timelines.get(conversationId);
    if (!t) {
      t = new Timeline(conversationId);
      this.timelines.set(conversationId, t);
    }
    return t;
  }

  rememberUser(user) {
    if (user && typeof user.id === 'number') this.users.set(user.id, user);
  }

  /** Conversations, most recent activity first. */
  sortedConversations() {
    const activity = (c) => c.last_message?.server_ts ?? c.created_at ?? 0;
    return [...this.conversations.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  }

  /**
   * Messages after the read marker, less the edits and deletes among them
   * (entries with seqs of their own that are never shown): those the server
   * counted when the list was fetched (`server_changes`, up to
   * `changes_until`) and those heard of since (`change_seqs`).
   */
  unreadCount(conversation) {
    const read = conversation.read_seq ?? 0;
    const until = conversation.changes_until ?? 0;
    let changes = read < until ? conversation.server_changes ?? 0 : 0;
    for (const seq of conversation.change_seqs ?? []) if (seq > read && seq > until) changes++;
    return Math.max(0, (conversation.last_seq ?? 0) - read - changes);
  }

  /** The name to show for a conversation: the group's, or the peer's. */
  title(conversation) {
    if (!conversation) return '';
    if (conversation.kind === 'group') return conversation.name || 'Group';
    const peer = conversation.peer;
    return peer ? displayName(peer) : 'Direct message';
  }

  userName(userId) {
    if (this.me && userId === this.me.id) return 'You';
    const u = this.users.get(userId);
    return u ? displayName(u) : `User ${userId}`;
  }

  isTyping(conversationId) {
    const map = this.typing.get(conversationId);
    if (!map) return [];
    const now = Date.now();
    return [...map.entries()].filter(([, until]) => until > now).map(([userId]) => userId);
  }
}
