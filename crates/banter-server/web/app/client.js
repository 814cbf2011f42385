// The sync engine: keeps the Store current from the HTTP API and the
// WebSocket, and carries out what the user does (send, read, type, open a
// conversation, scroll back).
//
// On every (re)connect: refresh the conversation list over HTTP, then `sync`
// from the cursors (see timeline.js) until `complete`, and resend the
// outbox. Live messages and sync batches go through one path,
// `applyMessages`, which deduplicates by (conversation_id, seq) and starts
// a sync when it sees a gap.

import { ApiError } from './api.js';
import { Blocks } from './blocks.js';
import { Conversations } from './conversations.js';
import { HistoryCache } from './history-cache.js';
import { frameOf, Outbox } from './outbox.js';
import { notifyWhileHidden } from './push.js';
import { Socket } from './socket.js';
import { applyChange, isChange } from './timeline.js';

const TYPING_SEND_EVERY_MS = 3000;
const DELIVERED_DEBOUNCE_MS = 500;
const READ_DEBOUNCE_MS = 250;
const RETRY_SEND_MS = 2000;
const MAX_IN_FLIGHT = 32;
const GROUP_RECEIPTS_POLL_MS = 5_000;
const GAP_WAIT_MS = 300;
/** Without a socket by then, the conversation list is fetched over HTTP. */
const INITIAL_REFRESH_FALLBACK_MS = 3000;
const ADOPT_AFTER_MS = 5000;
const PAGE = 50;
/** Opening a chat loads back to its first unread message, up to this many older pages. */
const MAX_UNREAD_PAGES = 10;

/** Change seqs remembered per conversation for the unread count (store.unreadCount). */
const MAX_CHANGE_SEQS = 1000;
/** Quoted messages fetched and kept for replies whose target is not held (each cut to QUOTE_CHARS). */
const MAX_QUOTES = 500;
/** Characters of a fetched quoted message kept: the quote shows one line. */
const QUOTE_CHARS = 200;
/** Pages loaded at most to reach a quoted message (200 × 50 messages). */
const MAX_JUMP_PAGES = 200;

export class Client {
  /**
   * @param {object} o
   * @param {import('./store.js').Store} o.store
   * @param {ReturnType<import('./api.js').createApi>} o.api
   * @param {{token: string, user: object, device_id: number}} o.session
   * @param {() => void} o.onSessionEnded the token is no longer valid
   */
  constructor({ store, api, session, onSessionEnded }) {
    Object.assign(this, { store, api, session, onSessionEnded });
    store.me = session.user;
    store.deviceId = session.device_id;
    store.rememberUser(session.user);
    this.outbox = new Outbox(`banter.outbox.${session.device_id}`);
    this.quotes = new Map(); // `${conversation}:${seq}` → message a reply quotes (null while fetched)
    this.outbox.onChange(({ fromOtherTab }) => {
      store.changed();
      // Another tab queued something. That tab sends it itself; only if it is
      // still unacknowledged a while later (the tab is offline or was
      // closed) does this one send it, with the same client_msg_id.
      if (fromOtherTab) {
        clearTimeout(this.adoptTimer);
        this.adoptTimer = setTimeout(() => this.flushOutbox({ olderThanMs: ADOPT_AFTER_MS }), ADOPT_AFTER_MS + 100);
      }
    });
    this.syncing = false;
    this.syncAgain = false;
    this.lastTypingSent = new Map();
    this.deliveredSent = new Map();
    this.seen = new Map(); // conversation id → newest seq seen in the open chat (seen-tracker.js)
    this.deliveredTimer = null;
    this.readTimer = null;
    this.retryTimer = null;
    this.refreshTimer = null;
    this.groupPollTimer = null;
    this.inFlight = new Set(); // client_msg_ids sent on the current connection
    // The rate-limit contract (PROTOCOL.md, "Rate limits"): after
    // `rate_limited`, send nothing new before `retry_after_ms`; keep few
    // sends unanswered, so a long outbox goes out as acks come back.
    this.pausedUntil = 0;
    this.backlog = false;
    this.history = new HistoryCache(session.device_id);
    this.cachedVersions = new Map(); // conversation id → timeline version last written to the cache
    this.cacheTimer = null;
    this.conversations = new Conversations({
      store,
      api,
      deviceId: session.device_id,
      report: (e) => this.report(e),
      onRefreshed: () => this.scheduleDelivered(),
    });
    this.blocks = new Blocks({ store, api, report: (e) => this.report(e) });
    this.socket = new Socket({
      getToken: () => this.session.token,
      onFrame: (frame) => this.handleFrame(frame),
      onState: (state) => {
        store.connection = state;
        if (state.status !== 'online') this.inFlight.clear();
        store.changed();
      },
      onRevoked: () => this.onSessionEnded(),
      onConnectFailed: (attempt) => {
        // A refused handshake looks like any failure to the browser; ask
        // over HTTP whether the token is still good (a 401 ends the session).
        if (attempt % 3 === 0) this.api.me().catch(() => {});
      },
    });
    this.onVisibility = () => {
      if (document.visibilityState === 'visible') this.scheduleRead();
    };
    this.onPageHide = () => this.saveCache();
  }

  start() {
    document.addEventListener('visibilitychange', this.onVisibility);
    this.unsubscribeCache = this.store.subscribe(() => this.scheduleCacheSave());
    window.addEventListener('pagehide', this.onPageHide);
    this.conversations.restore();
    // The list is fetched once the socket is up (`onConnected`), so a start
    // costs one request, not two. If the socket is not up soon (a network
    // that blocks WebSockets), fetch it over HTTP anyway.
    this.initialRefreshTimer = setTimeout(() => this.conversations.refresh(), INITIAL_REFRESH_FALLBACK_MS);
    this.socket.start();
    this.blocks.load();
  }

  stop() {
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.socket.stop();
    this.outbox.dispose();
    for (const t of [this.initialRefreshTimer, this.deliveredTimer, this.readTimer, this.retryTimer, this.refreshTimer, this.gapTimer, this.groupReceiptTimer, this.adoptTimer]) clearTimeout(t);
    clearInterval(this.groupPollTimer);
    clearTimeout(this.cacheTimer);
    this.unsubscribeCache?.();
    window.removeEventListener('pagehide', this.onPageHide);
  }

  /** Writes changed open timelines to the offline history cache, at most once a second. */
  scheduleCacheSave() {
    if (this.cacheTimer) return;
    this.cacheTimer = setTimeout(() => this.saveCache(), 1000);
  }

  /** Writes now (also when the page is going away, so nothing shown is left out). */
  saveCache() {
    clearTimeout(this.cacheTimer);
    this.cacheTimer = null;
    for (const t of this.store.timelines.values()) {
      if (!t.loaded || t.fromCache || this.cachedVersions.get(t.conversationId) === t.version) continue;
      this.cachedVersions.set(t.conversationId, t.version);
      this.history.save(t.conversationId, t.messages());
    }
  }

  // ---- frames -------------------------------------------------------------

  handleFrame(f) {
    const s = this.store;
    switch (f.type) {
      case 'hello':
        s.me = f.user;
        s.rememberUser(f.user);
        s.deviceId = f.device_id;
        if (f.limits) s.limits = f.limits;
        // Contacts' presence as of now: what changed while we were away.
        for (const p of f.presence ?? []) s.presence.set(p.user_id, { online: p.online, last_seen_at: p.last_seen_at ?? null });
        s.features = { presence: typeof f.presence_grace_ms === 'number' };
        this.onConnected();
        break;
      case 'ack':
        this.onAck(f);
        break;
      case 'message':
        this.applyMessages([f.message]);
        this.alert(f.message);
        break;
      case 'sync_batch':
        this.applyMessages(f.messages, { fromSync: true });
        if (f.complete) {
          this.syncing = false;
          if (this.syncAgain) this.sync();
        } else {
          this.syncing = false;
          this.sync();
        }
        break;
      case 'read_marker': {
        const c = s.conversations.get(f.conversation_id);
        if (c && f.user_id === s.me?.id && f.seq > (c.read_seq ?? 0)) {
          c.read_seq = f.seq;
          s.changed();
        }
        break;
      }
      case 'conversation_updated':
        this.onConversationUpdated(f);
        break;
      case 'blocks_changed':
        this.blocks.onChanged(f);
        break;
      case 'typing':
        this.onTyping(f);
        break;
      case 'presence':
        s.presence.set(f.user_id, { online: f.online, last_seen_at: f.last_seen_at ?? null });
        s.changed();
        break;
      case 'receipt': {
        const c = s.conversations.get(f.conversation_id);
        if (c) {
          c.peer_delivered_seq = Math.max(c.peer_delivered_seq ?? 0, f.delivered_seq ?? 0);
          c.peer_read_seq = Math.max(c.peer_read_seq ?? 0, f.read_seq ?? 0);
          s.changed();
        }
        break;
      }
      case 'error':
        this.onError(f);
        break;
      case 'resync':
        // The server may have dropped live events for us (conversation
        // changes included): refresh the list, then catch up by cursor.
        this.conversations.refresh().finally(() => this.sync());
        break;
      default:
        break; // pong, and frames this client does not know yet
    }
  }

  async onConnected() {
    clearTimeout(this.initialRefreshTimer);
    this.inFlight.clear();
    this.flushOutbox();
    this.blocks.load(); // a start while offline could not fetch it
    await this.conversations.refresh();
    this.syncing = false;
    this.sync();
    // The open conversation could not load while we were offline.
    const active = this.store.activeId;
    if (active !== null && !this.store.timeline(active).loaded) this.open(active);
    this.scheduleRead();
    this.scheduleDelivered();
  }

  onAck(f) {
    this.inFlight.delete(f.client_msg_id);
    if (this.backlog) this.flushOutbox();
    const entry = this.outbox.get(f.client_msg_id);
    if (entry) {
      this.outbox.remove(f.client_msg_id);
      this.applyMessages([
        {
          conversation_id: f.conversation_id,
          seq: f.seq,
          sender_id: this.store.me.id,
          sender_device_id: this.store.deviceId,
          client_msg_id: f.client_msg_id,
          text: entry.text,
          server_ts: f.server_ts,
          kind: entry.kind ?? 'text',
          reply_to: entry.reply_to,
          target_seq: entry.target_seq,
        },
      ]);
    } else {
      // Another tab of this device sent it; its `message` frame brings the text.
      const t = this.store.timeline(f.conversation_id);
      if (t.loaded && f.seq > t.cursor + 1) this.sync();
    }
    this.scheduleGroupReceipts(f.conversation_id);
  }

  onError(f) {
    if (!f.client_msg_id) {
      // The answer to a frame without an id (typing, read, sync, …). A sync
      // the server turned away (all its syncs busy: `storage_unavailable`
      // with `retry_after_ms`) gets no `sync_batch`: send it again after
      // the wait, or this client would wait for an answer forever.
      if (this.syncing && (f.code === 'storage_unavailable' || f.code === 'rate_limited')) {
        this.syncing = false;
        const wait = Number.isFinite(f.retry_after_ms) ? Math.max(f.retry_after_ms, 50) : RETRY_SEND_MS;
        clearTimeout(this.syncRetryTimer);
        this.syncRetryTimer = setTimeout(() => this.sync(), wait);
      }
      return;
    }
    this.inFlight.delete(f.client_msg_id);
    const entry = this.outbox.get(f.client_msg_id);
    if (this.outbox.refuse(f.client_msg_id, f.code, f.message)) {
      // A refused send stays as a failed bubble; a refused edit or delete
      // has no bubble of its own: say why, and drop it.
      if (entry?.kind === 'edit' || entry?.kind === 'delete') {
        this.outbox.remove(f.client_msg_id);
        const what = entry.kind === 'edit' ? 'edited' : 'deleted';
        this.store.notice = { kind: 'error', text: `The message could not be ${what}: ${f.message || f.code}` };
        this.store.changed();
      }
    } else {
      // rate_limited (after the wait the server asks for), storage_unavailable, …: try again later.
      const limited = f.code === 'rate_limited' && Number.isFinite(f.retry_after_ms);
      const wait = limited ? Math.max(f.retry_after_ms, 50) : RETRY_SEND_MS;
      if (limited) this.pausedUntil = Math.max(this.pausedUntil, Date.now() + wait);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.flushOutbox(), wait + 10);
    }
  }

  onTyping(f) {
    const s = this.store;
    if (f.user_id === s.me?.id) return;
    let map = s.typing.get(f.conversation_id);
    if (!map) s.typing.set(f.conversation_id, (map = new Map()));
    const ttl = f.expires_in_ms || 5000;
    map.set(f.user_id, Date.now() + ttl);
    setTimeout(() => s.changed(), ttl + 50);
    s.changed();
  }

  async onConversationUpdated(f) {
    const s = this.store;
    if (f.change === 'left') {
      s.conversations.delete(f.conversation_id);
      s.members.delete(f.conversation_id);
      s.timelines.delete(f.conversation_id);
      this.history.forget(f.conversation_id);
      s.changed();
      return;
    }
    await this.conversations.refresh();
    if (s.members.has(f.conversation_id) || s.activeId === f.conversation_id) this.conversations.loadDetail(f.conversation_id);
  }

  // ---- messages -----------------------------------------------------------

  /** The one path for every message that arrives (live, sync, ack). */
  applyMessages(messages, { fromSync = false } = {}) {
    const s = this.store;
    let gap = false;
    let unknown = false;
    for (const m of messages) {
      const c = s.conversations.get(m.conversation_id);
      if (!c) unknown = true;
      const t = s.timeline(m.conversation_id);
      const added = t.add([m]);
      if (t.hasGap) gap = true;
      if (!added.length || !c) continue;
      if (m.seq > (c.last_seq ?? 0)) c.last_seq = m.seq;
      if (isChange(m)) {
        // Not shown and not unread; the list's preview may be its target.
        if (c.last_message) c.last_message = applyChange(c.last_message, m);
        if (m.seq > (c.read_seq ?? 0)) (c.change_seqs ??= []).push(m.seq);
        if (c.change_seqs?.length > MAX_CHANGE_SEQS) c.change_seqs.shift();
        if (m.sender_id === s.me?.id && m.seq > (c.read_seq ?? 0)) c.read_seq = m.seq;
        continue;
      }
      if (!c.last_message || m.seq >= c.last_message.seq) c.last_message = m;
      if (!s.users.has(m.sender_id) && !s.members.has(c.id)) this.conversations.loadDetail(c.id);
      if (m.sender_id === s.me?.id && m.seq > (c.read_seq ?? 0)) c.read_seq = m.seq;
      // A message from someone ends their typing indicator.
      s.typing.get(m.conversation_id)?.delete(m.sender_id);
    }
    if (unknown) this.scheduleRefresh();
    if (gap && !fromSync) this.syncSoonIfGap();
    s.changed();
    this.scheduleRead();
    this.scheduleDelivered();
  }

  /**
   * Live frames can arrive a few places out of seq order when several
   * members send at once; give the missing ones a moment before syncing.
   */
  syncSoonIfGap() {
    clearTimeout(this.gapTimer);
    this.gapTimer = setTimeout(() => {
      for (const t of this.store.timelines.values()) {
        if (t.hasGap) return this.sync();
      }
    }, GAP_WAIT_MS);
  }

  /** A live message from someone else while the page is in the background. */
  alert(message) {
    const s = this.store;
    const c = s.conversations.get(message.conversation_id);
    if (!c || c.muted || message.sender_id === s.me?.id || isChange(message)) return;
    notifyWhileHidden({ message, senderName: s.userName(message.sender_id), conversationName: c.kind === 'group' ? c.name : null }).catch(() => {});
  }

  /** Asks for everything after our cursors; repeats until complete. */
  sync() {
    if (!this.socket.isReady) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncAgain = false;
    const s = this.store;
    const cursors = [];
    for (const c of s.conversations.values()) {
      const t = s.timeline(c.id);
      if (t.cursor === null) t.knowUpTo(c.last_seq ?? 0);
      cursors.push({ conversation_id: c.id, seq: t.cursor });
    }
    this.syncing = this.socket.send({ type: 'sync', cursors, limit: 200 });
  }

  /** Sends a message; `replyTo`: the seq of the message it quotes. */
  send(conversationId, text, { replyTo = null } = {}) {
    const entry = this.outbox.add(conversationId, text, replyTo ? { reply_to: replyTo } : {});
    this.sendEntry(entry);
    return entry;
  }

  /** Edits my message `seq` for everyone (through the outbox, like a send). */
  edit(conversationId, seq, text) {
    const entry = this.outbox.add(conversationId, text, { kind: 'edit', target_seq: seq });
    this.sendEntry(entry);
    return entry;
  }

  /** Deletes my message `seq` for everyone. */
  deleteMessage(conversationId, seq) {
    const entry = this.outbox.add(conversationId, '', { kind: 'delete', target_seq: seq });
    this.sendEntry(entry);
    return entry;
  }

  /**
   * The message a reply quotes: held in the timeline, or fetched once (a
   * page of one) into a bounded cache; null until it is known.
   */
  quoted(conversationId, seq) {
    const held = this.store.timeline(conversationId).get(seq);
    if (held) return held;
    const key = `${conversationId}:${seq}`;
    if (this.quotes.has(key)) return this.quotes.get(key);
    this.quotes.set(key, null);
    if (this.quotes.size > MAX_QUOTES) this.quotes.delete(this.quotes.keys().next().value);
    this.api
      .history(conversationId, { after: seq - 1, limit: 1 })
      .then((page) => {
        const m = page.messages.find((x) => x.seq === seq);
        if (m) {
          // A quote shows one line: keep no more of a (up to 400 KB) text,
          // so the cache is bounded in bytes, not only in entries.
          this.quotes.set(key, { ...m, text: m.text.slice(0, QUOTE_CHARS) });
          this.quotesVersion = (this.quotesVersion ?? 0) + 1;
          this.store.changed();
        }
      })
      .catch(() => this.quotes.delete(key));
    return null;
  }

  /** Loads older pages until `seq` is held (a quote was clicked); false if it cannot be reached. */
  async loadBackTo(id, seq) {
    const t = this.store.timeline(id);
    for (let i = 0; i < MAX_JUMP_PAGES && t.loaded && !t.bySeq.has(seq) && t.hasOlder && t.oldest > seq; i++) {
      if (!(await this.loadOlder(id))) break;
    }
    return t.bySeq.has(seq);
  }

  /** Sends unanswered at once: half the announced burst, a quarter of the refusals that close (4029), at most 32. */
  maxInFlight() {
    const l = this.store.limits ?? {};
    const bursts = [l.burst, l.account_burst].filter((b) => b > 0);
    let max = bursts.length ? Math.max(1, Math.floor(Math.min(...bursts) / 2)) : MAX_IN_FLIGHT;
    if (l.close_after_refusals > 0) max = Math.min(max, Math.max(1, Math.floor(l.close_after_refusals / 4)));
    return Math.min(max, MAX_IN_FLIGHT);
  }

  sendEntry(entry) {
    if (this.inFlight.has(entry.client_msg_id)) return;
    // Held back: it goes out with the next flush (on an ack, or when the pause ends).
    if (this.inFlight.size >= this.maxInFlight() || Date.now() < this.pausedUntil) {
      this.backlog = true;
      return;
    }
    const ok = this.socket.send(frameOf(entry));
    if (ok) this.inFlight.add(entry.client_msg_id);
  }

  /** Sends every queued message not already sent on this connection, oldest first. */
  flushOutbox({ olderThanMs = 0 } = {}) {
    const before = Date.now() - olderThanMs;
    this.backlog = false;
    for (const entry of this.outbox.sendable()) if (entry.created_at <= before) this.sendEntry(entry);
  }

  retry(clientMsgId) {
    this.outbox.retry(clientMsgId);
    const entry = this.outbox.get(clientMsgId);
    if (entry) this.sendEntry(entry);
  }

  discard(clientMsgId) {
    this.outbox.remove(clientMsgId);
  }

  /** Tells the other members I am typing (at most every 3 s). */
  typing(conversationId) {
    if (!this.store.features.presence) return;
    const now = Date.now();
    if (now - (this.lastTypingSent.get(conversationId) ?? 0) < TYPING_SEND_EVERY_MS) return;
    if (this.socket.send({ type: 'typing', conversation_id: conversationId })) this.lastTypingSent.set(conversationId, now);
  }

  // ---- read and delivered markers ------------------------------------------

  scheduleRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.markActiveRead(), READ_DEBOUNCE_MS);
  }

  /** The message log saw `seq` of conversation `id` on screen: the read marker may move up to it. */
  markSeen(id, seq) {
    if (seq <= (this.seen.get(id) ?? 0)) return;
    this.seen.set(id, seq);
    if (id === this.store.activeId) this.scheduleRead();
  }

  /** Moves my read marker of the open chat to the newest message seen in it (never past the cursor). */
  markActiveRead() {
    const s = this.store;
    if (s.activeId === null || document.visibilityState !== 'visible') return;
    const c = s.conversations.get(s.activeId);
    const t = s.timelines.get(s.activeId);
    if (!c || !t?.loaded) return;
    const seq = Math.min(t.cursor ?? 0, this.seen.get(c.id) ?? 0);
    if (seq <= (c.read_seq ?? 0)) return;
    c.read_seq = seq;
    s.changed();
    if (!this.socket.send({ type: 'read', conversation_id: c.id, seq })) this.api.markRead(c.id, seq).catch(() => {});
  }

  scheduleDelivered() {
    if (!this.store.features.presence || this.deliveredTimer) return;
    this.deliveredTimer = setTimeout(() => {
      this.deliveredTimer = null;
      const s = this.store;
      for (const c of s.conversations.values()) {
        const seq = s.timelines.get(c.id)?.cursor ?? 0;
        if (seq <= (this.deliveredSent.get(c.id) ?? 0)) continue;
        if (this.socket.send({ type: 'delivered', conversation_id: c.id, seq })) this.deliveredSent.set(c.id, seq);
      }
    }, DELIVERED_DEBOUNCE_MS);
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.conversations.refresh(), 200);
  }

  /** Makes `id` the open conversation: loads its newest page and members. */
  async open(id) {
    const s = this.store;
    // Whatever arrived in the conversation being left was seen.
    clearTimeout(this.readTimer);
    this.markActiveRead();
    s.activeId = id;
    clearInterval(this.groupPollTimer);
    this.groupPollTimer = null;
    s.changed();
    if (id === null) return;
    const t = s.timeline(id);
    const detail = this.conversations.loadDetail(id);
    // Until the pages back to the first unread are in, the log waits to
    // take its opening position (views/message-log.js).
    t.loadingUnread = true;
    try {
      await this.loadNewest(t, id);
      await this.loadBackToUnread(t, id);
    } finally {
      t.loadingUnread = false;
      s.changed();
    }
    await detail;
    this.scheduleRead();
    const c = s.conversations.get(id);
    if (c?.kind === 'group') {
      this.groupPollTimer = setInterval(() => {
        if (document.visibilityState === 'visible' && s.activeId === id) this.conversations.loadDetail(id);
      }, GROUP_RECEIPTS_POLL_MS);
    }
  }

  /** The newest page of a conversation not loaded yet: the offline cache at once, then the server's. */
  async loadNewest(t, id) {
    const s = this.store;
    if (!t.loaded) {
      // Show what the offline cache holds at once; the server's page follows.
      const cached = this.history.load(id);
      if (cached.length) {
        t.loadNewest({ messages: cached, has_more: cached[0].seq > 1 });
        t.fromCache = true;
        s.changed();
      }
      try {
        const page = await this.api.history(id, { limit: PAGE });
        if (t.fromCache) {
          t.fromCache = false;
          t.add(page.messages);
          s.changed();
          if (t.hasGap) this.sync();
        } else {
          if (t.loaded) return; // another call got there first
          const behind = t.loadNewest(page);
          s.changed();
          if (behind || t.hasGap) this.sync();
        }
      } catch (e) {
        this.report(e);
      }
    }
  }

  /** Older pages until the first unread message is held (at most MAX_UNREAD_PAGES). */
  async loadBackToUnread(t, id) {
    const firstUnread = (this.store.conversations.get(id)?.read_seq ?? 0) + 1;
    for (let i = 0; i < MAX_UNREAD_PAGES && t.loaded && !t.fromCache && t.hasOlder && t.oldest > firstUnread; i++) {
      if (!(await this.loadOlder(id))) break;
    }
  }

  /** Loads the page before the oldest held message. */
  async loadOlder(id) {
    const t = this.store.timeline(id);
    if (!t.loaded || !t.hasOlder || t.loadingOlder) return false;
    t.loadingOlder = true;
    try {
      const page = await this.api.history(id, { before: t.oldest, limit: PAGE });
      t.loadOlder(page);
      this.store.changed();
      return true;
    } catch (e) {
      this.report(e);
      return false;
    } finally {
      t.loadingOlder = false;
    }
  }

  scheduleGroupReceipts(id) {
    const c = this.store.conversations.get(id);
    if (c?.kind !== 'group' || this.store.activeId !== id) return;
    clearTimeout(this.groupReceiptTimer);
    this.groupReceiptTimer = setTimeout(() => this.conversations.loadDetail(id), 1500);
  }

  report(error) {
    if (error instanceof ApiError && (error.status === 401 || error.code === 'network')) return; // the connection banner says it
    this.store.notice = { kind: 'error', text: error.message || String(error) };
    this.store.changed();
  }
}
