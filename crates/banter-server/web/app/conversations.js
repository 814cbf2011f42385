// The conversations and their members, over HTTP: the list (with a local
// snapshot so a reload without network still shows it), each
// conversation's members, presence of the people in them, and the
// membership actions (start a chat, create a group, add, remove, leave).

import { ApiError } from './api.js';

export class Conversations {
  /**
   * @param {object} o
   * @param {import('./store.js').Store} o.store
   * @param {ReturnType<import('./api.js').createApi>} o.api
   * @param {number} o.deviceId
   * @param {(error: Error) => void} o.report
   * @param {() => void} o.onRefreshed the list was fetched again
   */
  constructor({ store, api, deviceId, report, onRefreshed }) {
    Object.assign(this, { store, api, deviceId, report, onRefreshed });
    this.detailInFlight = new Map(); // conversation id → pending detail request
  }

  async refresh() {
    const s = this.store;
    let list;
    try {
      list = await this.api.conversations();
    } catch (e) {
      this.report(e);
      return;
    }
    const seen = new Set();
    for (const c of list) {
      seen.add(c.id);
      const old = s.conversations.get(c.id);
      // The edits and deletes the server left out of unread_count (store.unreadCount).
      c.server_changes = Math.max(0, (c.last_seq ?? 0) - (c.read_seq ?? 0) - (c.unread_count ?? 0));
      c.changes_until = c.last_seq ?? 0;
      c.change_seqs = (old?.change_seqs ?? []).filter((seq) => seq > c.changes_until);
      // Keep what frames taught us if it is newer than this answer.
      if (old) {
        c.read_seq = Math.max(c.read_seq ?? 0, old.read_seq ?? 0);
        c.peer_delivered_seq = Math.max(c.peer_delivered_seq ?? 0, old.peer_delivered_seq ?? 0) || c.peer_delivered_seq;
        c.peer_read_seq = Math.max(c.peer_read_seq ?? 0, old.peer_read_seq ?? 0) || c.peer_read_seq;
        if (old.last_message && (!c.last_message || old.last_message.seq > c.last_message.seq)) {
          c.last_message = old.last_message;
          c.last_seq = Math.max(c.last_seq, old.last_seq);
        }
      }
      s.conversations.set(c.id, c);
      s.rememberUser(c.peer);
      s.timeline(c.id).knowUpTo(c.last_seq ?? 0);
    }
    for (const id of [...s.conversations.keys()]) if (!seen.has(id)) s.conversations.delete(id);
    s.conversationsLoaded = true;
    s.changed();
    this.save();
    this.refreshPresence(list.filter((c) => c.peer).map((c) => c.peer.id));
    // Name the senders of group previews (members come with the detail).
    for (const c of list) {
      if (c.kind === 'group' && c.last_message && !s.users.has(c.last_message.sender_id) && !s.members.has(c.id)) this.loadDetail(c.id);
    }
    this.onRefreshed();
  }

  /** The last conversation list, so a reload without network still shows it. */
  get snapshotKey() {
    return `banter.conversations.${this.deviceId}`;
  }

  save() {
    try {
      localStorage.setItem(this.snapshotKey, JSON.stringify([...this.store.conversations.values()]));
    } catch {
      /* storage full: the snapshot is only a convenience */
    }
  }

  restore() {
    try {
      const list = JSON.parse(localStorage.getItem(this.snapshotKey) || '[]');
      for (const c of list) {
        this.store.conversations.set(c.id, c);
        this.store.rememberUser(c.peer);
      }
    } catch {
      /* ignore a damaged snapshot */
    }
  }

  async refreshPresence(userIds) {
    if (!this.store.features.presence || !userIds.length) return;
    try {
      const list = await this.api.presence([...new Set(userIds)].slice(0, 200));
      for (const p of list) this.store.presence.set(p.user_id, { online: p.online, last_seen_at: p.last_seen_at ?? null });
      this.store.changed();
    } catch {
      /* presence is a nicety */
    }
  }

  /** Fetches a conversation's members (one request at a time per conversation). */
  loadDetail(id) {
    let pending = this.detailInFlight.get(id);
    if (!pending) {
      pending = this.fetchDetail(id).finally(() => this.detailInFlight.delete(id));
      this.detailInFlight.set(id, pending);
    }
    return pending;
  }

  async fetchDetail(id) {
    const s = this.store;
    try {
      const detail = await this.api.conversation(id);
      s.members.set(id, detail.members);
      for (const m of detail.members) s.rememberUser(m.user);
      const c = s.conversations.get(id);
      if (c) Object.assign(c, { name: detail.conversation.name, member_count: detail.conversation.member_count });
      s.changed();
      this.refreshPresence(detail.members.map((m) => m.user.id).filter((uid) => uid !== s.me?.id));
      return detail;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'not_a_member') {
        s.conversations.delete(id);
        s.changed();
      }
      return null;
    }
  }

  async startDirect(username) {
    const detail = await this.api.createDirect(username.trim().toLowerCase());
    this.adopt(detail);
    return detail.conversation.id;
  }

  async createGroup(name, usernames) {
    const ids = await this.resolveUsernames(usernames);
    const detail = await this.api.createGroup(name.trim(), ids);
    this.adopt(detail);
    return detail.conversation.id;
  }

  async addMembers(id, usernames) {
    const ids = await this.resolveUsernames(usernames);
    const detail = await this.api.addMembers(id, ids);
    this.adopt(detail);
  }

  /** Mutes or unmutes a conversation's push notifications (this account, every device). */
  async setMuted(id, muted) {
    const state = await this.api.setMuted(id, muted);
    const c = this.store.conversations.get(id);
    if (c) c.muted = state.muted;
    this.store.changed();
    this.save();
  }

  async removeMember(id, userId) {
    await this.api.removeMember(id, userId);
    if (userId === this.store.me.id) {
      this.store.conversations.delete(id);
      this.store.timelines.delete(id);
      this.store.changed();
    } else {
      await this.loadDetail(id);
    }
  }

  async resolveUsernames(usernames) {
    const names = [...new Set(usernames.map((u) => u.trim().toLowerCase()).filter(Boolean))];
    const users = await Promise.all(names.map((n) => this.api.user(n)));
    for (const u of users) this.store.rememberUser(u);
    return users.map((u) => u.id);
  }

  adopt(detail) {
    const s = this.store;
    const c = detail.conversation;
    const old = s.conversations.get(c.id);
    s.conversations.set(c.id, old ? { ...old, ...c, last_message: old.last_message ?? c.last_message } : c);
    s.members.set(c.id, detail.members);
    for (const m of detail.members) s.rememberUser(m.user);
    s.rememberUser(c.peer);
    s.timeline(c.id).knowUpTo(c.last_seq ?? 0);
    s.changed();
  }
}
