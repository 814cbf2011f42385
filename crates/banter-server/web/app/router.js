// Client-side routes: `/` (conversation list) and `/c/<id>` (a conversation).
// The server answers any such path with index.html.

const listeners = new Set();

/** The conversation id in the address bar, or null. */
export function routeConversationId() {
  const m = location.pathname.match(/^\/c\/(\d+)\/?$/);
  return m ? Number(m[1]) : null;
}

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const l of listeners) l();
}

export function onRouteChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});
