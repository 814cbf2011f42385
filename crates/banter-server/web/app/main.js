// Starts the web client: registers the service worker, shows the login
// screen or the signed-in app, and follows the address bar.

import { createApi } from './api.js';
import { Client } from './client.js';
import { replaceChildren } from './dom.js';
import { Drafts } from './drafts.js';
import { HistoryCache } from './history-cache.js';
import { disablePush, ensurePushSubscription } from './push.js';
import { navigate, onRouteChange, routeConversationId } from './router.js';
import { clearSession, loadSession, saveSession, watchSession } from './session.js';
import { Store } from './store.js';
import { authView } from './views/auth.js';
import { shellView } from './views/shell.js';

const app = document.getElementById('app');
let session = loadSession();
let running = null; // {client, store, shell, unsubscribe}

const api = createApi({
  getToken: () => session?.token ?? null,
  onUnauthorized: () => endSession(),
});

function showAuth() {
  document.title = 'Banter';
  replaceChildren(app, authView({ api, onSession: startSession }));
}

function startSession(newSession) {
  session = newSession;
  saveSession(session);
  if (location.pathname !== '/' && routeConversationId() === null) navigate('/', { replace: true });
  startApp();
}

function startApp() {
  const store = new Store();
  store.drafts = new Drafts(session.device_id);
  const client = new Client({ store, api, session, onSessionEnded: () => endSession() });
  const shell = shellView({
    store,
    client,
    api,
    navigateTo: (id) => navigate(id === null ? '/' : `/c/${id}`),
    onLogout: logout,
    // The server signed every device out and forgot the push subscriptions.
    onAccountDeleted: () => endSession(),
  });
  const unsubscribe = store.subscribe(() => {
    shell.render();
    const unread = [...store.conversations.values()].reduce((n, c) => n + store.unreadCount(c), 0);
    document.title = unread ? `(${unread}) Banter` : 'Banter';
  });
  running = { client, store, shell, unsubscribe };
  replaceChildren(app, shell.root);
  client.start();
  followRoute();
  shell.render();
  ensurePushSubscription(api).catch(() => {});
}

function followRoute() {
  if (!running) return;
  const id = routeConversationId();
  if (running.store.activeId === id) return;
  running.client.open(id);
  // Focus the composer only with a mouse or trackpad: on a phone it would
  // pop the keyboard up over the chat each time one is opened.
  if (id !== null && matchMedia('(pointer: fine)').matches) setTimeout(() => running?.shell.focusComposer(), 0);
}

function stopApp() {
  if (!running) return;
  running.unsubscribe();
  running.shell.dispose();
  running.client.stop();
  running.store.drafts.dispose();
  running = null;
}

async function logout() {
  try {
    await disablePush(api);
    await api.logout();
  } catch {
    /* the token may already be gone; forget it anyway */
  }
  endSession();
}

/** Forgets the session (logout here or elsewhere, revoked token). */
function endSession() {
  if (!session) return;
  const deviceId = session.device_id;
  session = null;
  clearSession();
  localStorage.removeItem(`banter.outbox.${deviceId}`);
  localStorage.removeItem(`banter.conversations.${deviceId}`);
  new HistoryCache(deviceId).clear();
  // Before stopApp, whose last write would put them back.
  running?.store.drafts.clear();
  localStorage.removeItem(`banter.drafts.${deviceId}`);
  stopApp();
  navigate('/', { replace: true });
  showAuth();
}

onRouteChange(followRoute);

// Another tab logged in or out: follow it.
watchSession((next) => {
  if (next?.token === session?.token) return;
  stopApp();
  session = next;
  if (session) startApp();
  else showAuth();
});

// The page runs under Trusted Types (see the server's CSP): no string
// reaches an HTML or script sink, except this one script URL.
const scriptUrls = window.trustedTypes?.createPolicy('banter', {
  createScriptURL: (url) => {
    if (url === '/sw.js') return url;
    throw new TypeError(`script URL not allowed: ${url}`);
  },
});

if ('serviceWorker' in navigator) {
  const swUrl = scriptUrls ? scriptUrls.createScriptURL('/sw.js') : '/sw.js';
  navigator.serviceWorker.register(swUrl, { type: 'module', scope: '/' }).catch(() => {});
  // The service worker asks us to open a conversation (notification click).
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'open' && typeof event.data.url === 'string') navigate(event.data.url);
  });
}

if (session) startApp();
else showAuth();
