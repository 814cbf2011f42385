// What a Web Push payload looks like as a notification. Shared by the
// service worker (which shows it) and the tests; no DOM here.

/**
 * @param {{conversation_id: number, sender_name?: string, conversation_name?: string|null, preview?: string}} payload
 * @returns {{title: string, options: NotificationOptions}}
 */
export function notificationFromPush(payload) {
  const p = payload && typeof payload === 'object' ? payload : {};
  const sender = p.sender_name || 'Someone';
  const title = p.conversation_name ? `${sender} in ${p.conversation_name}` : sender;
  const id = Number.isSafeInteger(p.conversation_id) ? p.conversation_id : null;
  return {
    title: p.type === 'message' || id !== null ? title : 'Banter',
    options: {
      body: typeof p.preview === 'string' ? p.preview : 'New message',
      icon: '/icons/icon-192.png',
      badge: '/icons/favicon-32.png',
      // One notification per conversation, replaced by the newest.
      tag: id !== null ? `conversation-${id}` : 'banter',
      renotify: true,
      data: { url: id !== null ? `/c/${id}` : '/', conversation_id: id },
    },
  };
}
