// The users I have blocked: fetched once per session (`GET /blocks`) into
// `store.blocked`, changed through `PUT`/`DELETE /blocks/{id}`, and kept in
// step with my other devices by the `blocks_changed` frame. While a
// block stands (PROTOCOL.md, "Blocks") the server refuses sends both ways;
// the chat shows the blocker a line with Unblock instead of the composer,
// and the blocked side sees its sends refused with `blocked` (outbox.js).

export class Blocks {
  /**
   * @param {object} o
   * @param {import('./store.js').Store} o.store
   * @param {ReturnType<import('./api.js').createApi>} o.api
   * @param {(e: Error) => void} o.report
   */
  constructor({ store, api, report }) {
    Object.assign(this, { store, api, report });
    this.loading = null;
    // Bumped by each fetch: an answer overtaken by a newer fetch is dropped.
    this.generation = 0;
  }

  /** Fetches the list unless this session has it (or is fetching it). */
  load() {
    if (this.store.blockedLoaded) return Promise.resolve();
    if (this.loading) return this.loading;
    const generation = ++this.generation;
    this.loading = this.api
      .blocks()
      .then((list) => {
        if (generation !== this.generation) return;
        const s = this.store;
        s.blocked = new Map(list.map((b) => [b.user.id, b.user]));
        for (const b of list) s.rememberUser(b.user);
        s.blockedLoaded = true;
        s.changed();
      })
      .catch((e) => this.report(e))
      .finally(() => {
        if (generation === this.generation) this.loading = null;
      });
    return this.loading;
  }

  /**
   * `blocks_changed`: a device of mine (maybe this one) blocked or
   * unblocked `user_id`. A user this device does not know yet makes it
   * read the list again.
   * @param {{user_id: number, blocked: boolean}} f
   */
  onChanged(f) {
    const s = this.store;
    if (!f.blocked) {
      if (s.blocked.delete(f.user_id)) s.changed();
      return;
    }
    if (s.blocked.has(f.user_id)) return;
    const user = s.users.get(f.user_id);
    if (user) {
      s.blocked = new Map([[user.id, user], ...s.blocked]);
      s.changed();
    } else {
      s.blockedLoaded = false;
      this.loading = null;
      this.load();
    }
  }

  isBlocked(userId) {
    return this.store.blocked.has(userId);
  }

  /** Blocks `user` ({id, username, …}); throws the server's refusal. */
  async block(user) {
    await this.api.block(user.id);
    const s = this.store;
    // Most recent first, as the server lists them.
    s.blocked = new Map([[user.id, user], ...[...s.blocked].filter(([id]) => id !== user.id)]);
    s.changed();
  }

  async unblock(userId) {
    await this.api.unblock(userId);
    this.store.blocked.delete(userId);
    this.store.changed();
  }
}
