// Unsent text per conversation, kept in localStorage so that a reload, a
// crash or switching chats does not lose it; the conversation list shows it
// ("Draft: …").
//
// Bounded: at most MAX_DRAFTS conversations and MAX_CHARS of text in all;
// past either, the drafts edited longest ago are dropped first. Writes are
// batched (a keystroke does not rewrite storage) and flushed when the page
// goes away. Logging out removes them with the rest of the device's storage.

const MAX_DRAFTS = 50;
const MAX_CHARS = 300_000;
const WRITE_AFTER_MS = 400;

export class Drafts {
  constructor(deviceId) {
    this.key = `banter.drafts.${deviceId}`;
    /** conversation id → { text, at } */
    this.map = new Map();
    this.timer = null;
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) || '[]');
      if (Array.isArray(saved)) {
        for (const d of saved) if (d && Number.isInteger(d.id) && typeof d.text === 'string' && d.text) this.map.set(d.id, { text: d.text, at: Number(d.at) || 0 });
      }
    } catch {
      /* unreadable: start empty */
    }
    this.flush = () => this.write();
    window.addEventListener('pagehide', this.flush);
  }

  /** The draft of a conversation, or ''. */
  get(conversationId) {
    return this.map.get(conversationId)?.text ?? '';
  }

  /** Sets (or, with blank text, removes) a conversation's draft. */
  set(conversationId, text) {
    if (text.trim()) this.map.set(conversationId, { text, at: Date.now() });
    else this.map.delete(conversationId);
    clearTimeout(this.timer);
    this.timer = setTimeout(this.flush, WRITE_AFTER_MS);
  }

  write() {
    clearTimeout(this.timer);
    this.timer = null;
    const newestFirst = [...this.map.entries()].sort((a, b) => b[1].at - a[1].at);
    const kept = [];
    let chars = 0;
    for (const [id, d] of newestFirst) {
      if (kept.length >= MAX_DRAFTS || chars + d.text.length > MAX_CHARS) {
        this.map.delete(id);
        continue;
      }
      chars += d.text.length;
      kept.push({ id, text: d.text, at: d.at });
    }
    try {
      if (kept.length) localStorage.setItem(this.key, JSON.stringify(kept));
      else localStorage.removeItem(this.key);
    } catch {
      /* storage full: the drafts stay in memory */
    }
  }

  dispose() {
    this.write();
    window.removeEventListener('pagehide', this.flush);
  }

  clear() {
    clearTimeout(this.timer);
    this.map.clear();
    localStorage.removeItem(this.key);
  }
}
