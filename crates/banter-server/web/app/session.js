// The logged-in session of this browser: token, user and device id, kept in
// localStorage so it survives a reload and is shared by every tab.

const KEY = 'banter.session';

/** The stored session, or null. */
export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) || 'null');
    return session && typeof session.token === 'string' ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

/** Calls `onChange(session|null)` when another tab logs in or out. */
export function watchSession(onChange) {
  window.addEventListener('storage', (event) => {
    if (event.key === KEY || event.key === null) onChange(loadSession());
  });
}
