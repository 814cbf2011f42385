// Web Push from the page's side: permission, subscription with the server's
// VAPID key, and unsubscribing on logout. The service worker (sw.js) shows
// the notifications.

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Subscribes this browser (if permitted) and registers it with the server. */
export async function ensurePushSubscription(api) {
  if (!pushSupported() || Notification.permission !== 'granted') return false;
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription) {
    const key = await api.vapidPublicKey();
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  await api.addPushSubscription(subscription.toJSON());
  return true;
}

/** Asks for permission (call from a click) and subscribes. */
export async function enablePush(api) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return false;
  return ensurePushSubscription(api);
}

export async function disablePush(api) {
  if (!pushSupported()) return;
  try {
    await api.removePushSubscription();
  } catch {
    /* the server may not know it */
  }
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  await subscription?.unsubscribe();
}

/**
 * While the app is open but not looking (tab in the background), the server
 * does not push (this device is connected), so the page shows the same
 * notification itself, through the service worker so a click works alike.
 */
export async function notifyWhileHidden({ message, senderName, conversationName }) {
  if (!pushSupported() || Notification.permission !== 'granted' || document.visibilityState === 'visible') return;
  const { notificationFromPush } = await import('./notify.js');
  const { title, options } = notificationFromPush({
    type: 'message',
    conversation_id: message.conversation_id,
    seq: message.seq,
    sender_id: message.sender_id,
    sender_name: senderName,
    conversation_name: conversationName,
    preview: message.text.slice(0, 200),
  });
  const registration = await navigator.serviceWorker.getRegistration();
  await registration?.showNotification(title, options);
}
