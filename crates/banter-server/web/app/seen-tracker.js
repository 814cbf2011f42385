// Which messages the reader has actually seen: a message row counts once at
// least half of it (or, for a row taller than the log, half of the log) has
// been inside the scrolled log while the page was visible. The read marker
// follows the newest seq seen (client.markSeen), not whatever was loaded —
// opening a chat with 25 unread and looking at the first five marks five.
//
// An IntersectionObserver does the geometry off the scroll path; the
// tracker keeps the rows in view and reports the newest seq when it grows,
// while enabled (the log turns it on once the chat is in its opening
// position) and the page is visible.

const THRESHOLDS = [0, 0.25, 0.5, 0.75, 1];

export class SeenTracker {
  /**
   * @param {Element} root the scrolling log
   * @param {(seq: number) => void} onSeen called with the newest seq seen so far
   */
  constructor(root, onSeen) {
    this.onSeen = onSeen;
    this.inView = new Set(); // rows at least half visible
    this.observed = new Set();
    this.enabled = false;
    this.maxSeen = 0;
    this.io = new IntersectionObserver((entries) => this.update(entries), { root, threshold: THRESHOLDS });
    this.onVisibility = () => this.report();
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  update(entries) {
    for (const e of entries) {
      const rootHeight = e.rootBounds?.height ?? Infinity;
      const seen = e.isIntersecting && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= rootHeight / 2);
      if (seen && this.observed.has(e.target)) this.inView.add(e.target);
      else this.inView.delete(e.target);
    }
    this.report();
  }

  /** Watches a message row (one with `data-seq`). */
  observe(el) {
    if (this.observed.has(el)) return;
    this.observed.add(el);
    this.io.observe(el);
  }

  unobserve(el) {
    if (!this.observed.delete(el)) return;
    this.inView.delete(el);
    this.io.unobserve(el);
  }

  /** Starts reporting. Rows are observed afresh, so what is in view now is measured now. */
  enable() {
    if (this.enabled) return;
    this.enabled = true;
    this.inView.clear();
    for (const el of this.observed) {
      this.io.unobserve(el);
      this.io.observe(el);
    }
  }

  /** Another conversation: forget everything. */
  reset() {
    this.io.disconnect();
    this.observed.clear();
    this.inView.clear();
    this.enabled = false;
    this.maxSeen = 0;
  }

  /** The rows in view (seen while visible), for the jump buttons. */
  newestInView() {
    let max = 0;
    for (const el of this.inView) max = Math.max(max, Number(el.dataset.seq) || 0);
    return max;
  }

  report() {
    if (!this.enabled || document.visibilityState !== 'visible') return;
    const max = this.newestInView();
    if (max > this.maxSeen) {
      this.maxSeen = max;
      this.onSeen(max);
    }
  }

  dispose() {
    this.reset();
    document.removeEventListener('visibilitychange', this.onVisibility);
  }
}
