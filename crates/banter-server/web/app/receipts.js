// Where one of my stored messages stands: sent (stored), delivered (on a
// device of every other member) or read (by every other member). Direct
// conversations know the peer's markers from `receipt` frames; groups from
// the members' markers fetched over HTTP.
//
// Markers only move forward and cover every seq below them, so a
// conversation's receipts come down to two thresholds: `statusResolver`
// works them out once per render instead of once per message row.

/**
 * The read and delivered thresholds of conversation `c` (null when unknown),
 * and a `key` that changes whenever either does.
 * @param {import('./store.js').Store} s
 */
export function receiptThresholds(s, c) {
  if (!c) return { read: 0, delivered: 0, key: 'none' };
  if (c.kind === 'direct') {
    const read = c.peer_read_seq ?? 0;
    const delivered = Math.max(read, c.peer_delivered_seq ?? 0);
    return { read, delivered, key: `${read}:${delivered}` };
  }
  const others = (s.members.get(c.id) ?? []).filter((m) => m.user.id !== s.me?.id);
  if (!others.length || others.some((m) => m.delivered_seq === undefined)) return { read: 0, delivered: 0, key: 'unknown' };
  const read = Math.min(...others.map((m) => m.read_seq ?? 0));
  const delivered = Math.min(...others.map((m) => Math.max(m.delivered_seq ?? 0, m.read_seq ?? 0)));
  return { read, delivered, key: `${read}:${delivered}` };
}

/** `seq → status` for the stored messages of conversation `c`. */
export function statusResolver(s, c) {
  const { read, delivered } = receiptThresholds(s, c);
  return (seq) => {
    if (seq === undefined) return 'sent';
    if (read >= seq) return 'read';
    if (delivered >= seq) return 'delivered';
    return 'sent';
  };
}

/**
 * @param {import('./store.js').Store} s
 * @returns {'sent'|'delivered'|'read'}
 */
export function messageStatus(s, message) {
  return statusResolver(s, s.conversations.get(message.conversation_id))(message.seq);
}
