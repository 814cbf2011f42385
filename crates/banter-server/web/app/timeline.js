// The messages of one conversation held by this page, and its sync cursor.
//
// Until the conversation is opened nothing is kept: the cursor just follows
// the newest seq heard of, so a reconnect does not download history nobody
// looks at. Once opened ("loaded"), the timeline holds a contiguous run of
// seqs [oldest, cursor] — the newest page, older pages as the user scrolls
// up, newer messages live or from sync — plus any message that arrived past
// a gap, which stays until sync fills the gap. Messages are identified by
// (conversation_id, seq), so a message heard twice is kept once.
//
// An edit or delete is an entry with a seq of its own (it keeps the cursor
// contiguous) that is never shown: it is applied to the message it names
// when that message is held (applyChange, the same rule as the SDK's
// Message::apply_change), and history pages bring messages as they stand.

export class Timeline {
  constructor(conversationId) {
    this.conversationId = conversationId;
    this.bySeq = new Map();
    this.cursor = null; // highest contiguous seq held (loaded) or heard of (not loaded)
    this.loaded = false;
    this.oldest = null; // lowest seq held once loaded
    this.hasOlder = false;
    this.loadingOlder = false;
    this.version = 0; // bumped on every change, for cheap re-render checks
    this.sortedCache = null;
  }

  /** Starts the cursor at `seq` if it has none or is behind (not while loaded). */
  knowUpTo(seq) {
    if (this.loaded) return;
    if (this.cursor === null || seq > this.cursor) this.cursor = seq;
  }

  /**
   * Adds messages from any source. Returns the ones that were new.
   * Not loaded: only moves the cursor. Loaded: stores and advances the cursor
   * over every contiguous seq.
   */
  add(messages) {
    const added = [];
    for (const m of messages) {
      if (this.bySeq.has(m.seq)) continue;
      if (!this.loaded) {
        if (this.cursor === null || m.seq > this.cursor) {
          this.cursor = m.seq;
          added.push(m);
        }
        continue;
      }
      if (m.seq < this.oldest) continue; // older than what we hold: history pages bring those
      this.bySeq.set(m.seq, m);
      added.push(m);
      if (isChange(m)) this.applyChange(m);
      // The usual case, a message newer than all: the sorted list grows at
      // its end instead of being sorted again (5,000 held messages).
      const sorted = this.sortedCache;
      if (sorted && (!sorted.length || sorted[sorted.length - 1].seq < m.seq)) sorted.push(m);
      else this.sortedCache = null;
    }
    if (added.length) this.version += 1;
    this.advance();
    return added;
  }

  advance() {
    if (!this.loaded) return;
    while (this.bySeq.has(this.cursor + 1)) this.cursor += 1;
  }

  /** True when a message past the cursor is held: something is missing in between. */
  get hasGap() {
    if (!this.loaded) return false;
    for (const seq of this.bySeq.keys()) if (seq > this.cursor) return true;
    return false;
  }

  /** Installs the newest page (`GET messages` without cursor). */
  loadNewest(page) {
    const { messages, has_more: hasMore } = page;
    const heard = this.cursor ?? 0;
    this.loaded = true;
    for (const m of messages) this.bySeq.set(m.seq, m);
    for (const m of messages) if (isChange(m)) this.applyChange(m);
    if (messages.length) {
      this.oldest = messages[0].seq;
      this.cursor = messages[messages.length - 1].seq;
    } else {
      this.oldest = 1;
      this.cursor = 0;
    }
    this.hasOlder = hasMore && this.oldest > 1;
    // Drop anything older than the page that was kept while not loaded.
    for (const seq of this.bySeq.keys()) if (seq < this.oldest) this.bySeq.delete(seq);
    this.advance();
    this.changed();
    return heard > this.cursor; // the page is behind what we heard of: sync
  }

  /** Adds an older page (`before=oldest`). */
  loadOlder(page) {
    const { messages, has_more: hasMore } = page;
    for (const m of messages) if (!this.bySeq.has(m.seq)) this.bySeq.set(m.seq, m);
    for (const m of messages) if (isChange(m)) this.applyChange(m);
    if (messages.length) this.oldest = Math.min(this.oldest, messages[0].seq);
    this.hasOlder = hasMore && messages.length > 0 && this.oldest > 1;
    this.changed();
  }

  /**
   * Applies an edit or delete to the held message it names, as a new object
   * (rows redraw when their message object changes). An edit older than the
   * copy's `edited_at` is skipped; a delete wins. Returns the new message.
   */
  applyChange(change) {
    const target = this.bySeq.get(change.target_seq);
    const next = applyChange(target, change);
    if (next === target) return target;
    this.bySeq.set(target.seq, next);
    this.changed();
    return next;
  }

  /** The held message at `seq`, if any. */
  get(seq) {
    return this.bySeq.get(seq) ?? null;
  }

  /** Held messages in seq order. */
  messages() {
    if (!this.sortedCache) this.sortedCache = [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
    return this.sortedCache;
  }

  /** Index in `messages()` of the first message with seq ≥ `seq` (binary search). */
  indexOfSeq(seq) {
    const list = this.messages();
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get newest() {
    const list = this.messages();
    return list.length ? list[list.length - 1] : null;
  }

  changed() {
    this.sortedCache = null;
    this.version += 1;
  }
}

/** True for an edit or delete entry: applied to its target, never shown. */
export function isChange(m) {
  return !!m.kind && m.kind !== 'text';
}

/** `target` with `change` applied (the same object when it does not apply). */
export function applyChange(target, change) {
  if (!target || isChange(target) || change.target_seq !== target.seq) return target;
  if (change.kind === 'delete') return target.deleted ? target : { ...target, text: '', deleted: true };
  if (target.deleted || change.deleted || (target.edited_at && change.server_ts < target.edited_at)) return target;
  if (target.text === change.text && target.edited_at === change.server_ts) return target;
  return { ...target, text: change.text, edited_at: change.server_ts };
}
