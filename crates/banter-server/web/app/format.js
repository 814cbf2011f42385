// Formatting of times, counts and previews for display.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const number = new Intl.NumberFormat('en-US');

export const formatNumber = (n) => number.format(n);
export const formatTime = (ms) => timeFormat.format(new Date(ms));
export const formatFull = (ms) => fullFormat.format(new Date(ms));

function startOfDay(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** "Today", "Yesterday" or the date: the separator between days of messages. */
export function formatDay(ms, now = Date.now()) {
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return dayFormat.format(new Date(ms));
}

export const sameDay = (a, b) => startOfDay(a) === startOfDay(b);

/** Time for the conversation list: the time today, else a short date. */
export function formatListTime(ms, now = Date.now()) {
  return sameDay(ms, now) ? formatTime(ms) : shortDayFormat.format(new Date(ms));
}

/** "last seen 5 min ago" and the like. */
export function formatLastSeen(ms, now = Date.now()) {
  if (!ms) return 'offline';
  const minutes = Math.floor((now - ms) / 60_000);
  if (minutes < 1) return 'last seen just now';
  if (minutes < 60) return `last seen ${minutes} min ago`;
  if (sameDay(ms, now)) return `last seen today at ${formatTime(ms)}`;
  return `last seen ${shortDayFormat.format(new Date(ms))}`;
}

/** One line of a message for the conversation list. */
export function preview(text, max = 80) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

/** Number of Unicode scalar values, as the server counts message length. */
export function charCount(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Initials for an avatar. */
export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** "1 member", "3 members". */
export const plural = (n, word) => `${formatNumber(n)} ${word}${n === 1 ? '' : 's'}`;

const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  online: 'Connected',
  offline: 'Offline. Messages you send will go out when the connection returns.',
  stopped: 'Disconnected',
};

/** What to say about the connection (`store.connection`). */
export function connectionText(st) {
  if (st.status === 'waiting') return `Connection lost. Reconnecting in ${Math.max(1, Math.round(st.retryInMs / 1000))} s…`;
  return CONNECTION_TEXT[st.status] || st.status;
}

/** `text` for matching: case and accents ignored (`Zoë` matches `zoe`, `Straße` `strasse`), as the server's search does. */
export function fold(text) {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/ß/g, 'ss').replace(/ς/g, 'σ');
}
