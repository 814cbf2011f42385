// Where one of my stored messages stands: sent (stored), delivered (on a
// device of every other member) or read (by every other member). Direct
// conversations know the peer's markers from `receipt` frames; groups from
// the members' markers fetched over HTTP.

/**
 * @param {import('./store.js').Store} s
 * @returns {'sent'|'delivered'|'read'}
 */
export function messageStatus(s, message) {
  const c = s.conversations.get(message.conversation_id);
  if (!c || message.seq === undefined) return 'sent';
  if (c.kind === 'direct') {
    if ((c.peer_read_seq ?? 0) >= message.seq) return 'read';
    if ((c.peer_delivered_seq ?? 0) >= message.seq) return 'delivered';
    return 'sent';
  }
  const others = (s.members.get(c.id) ?? []).filter((m) => m.user.id !== s.me.id);
  if (!others.length || others.some((m) => m.delivered_seq === undefined)) return 'sent';
  if (others.every((m) => (m.read_seq ?? 0) >= message.seq)) return 'read';
  if (others.every((m) => Math.max(m.delivered_seq ?? 0, m.read_seq ?? 0) >= message.seq)) return 'delivered';
  return 'sent';
}
