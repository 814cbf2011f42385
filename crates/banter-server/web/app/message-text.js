// A message's text as DOM: plain text with its web links made clickable,
// and a long text cut short behind "Read more".
//
// Safe by construction: text goes in as Text nodes (never HTML); a link is
// made only from an http(s) URL that the URL parser accepts, opens in a new
// tab with rel="noopener noreferrer" (the opened page gets no handle on
// this one and no Referer), and shows exactly the characters of the message.

import { h } from './dom.js';

/** Texts longer than this (in UTF-16 units) show a cut with "Read more". */
export const PREVIEW_CHARS = 2000;

// A URL runs to the next white space; trailing punctuation belongs to the
// sentence ("see https://example.com."), and a closing bracket only to the
// URL when it opened one inside it (Wikipedia's "…_(film)").
const URL_START = /https?:\/\//gi;
const TRAILING = /[.,;:!?'"’”»]+$/;

/**
 * Splits `text` into `{ text }` and `{ url, text }` parts, in order.
 * Joined, the parts' `text` is `text` unchanged.
 */
export function linkParts(text) {
  const parts = [];
  let rest = 0;
  URL_START.lastIndex = 0;
  for (let m = URL_START.exec(text); m; m = URL_START.exec(text)) {
    const start = m.index;
    // Only at a word start: not inside "xhttps://…".
    if (start > 0 && /[\p{L}\p{N}_]/u.test(text[start - 1])) continue;
    let end = start;
    while (end < text.length && !/\s/.test(text[end])) end++;
    let candidate = text.slice(start, end);
    for (;;) {
      const trimmed = candidate.replace(TRAILING, '');
      const unbalanced = /[)\]}>]$/.test(trimmed) && count(trimmed, opener(trimmed.at(-1))) < count(trimmed, trimmed.at(-1));
      const next = unbalanced ? trimmed.slice(0, -1) : trimmed;
      if (next === candidate) break;
      candidate = next;
    }
    const url = safeUrl(candidate);
    if (!url) continue;
    if (start > rest) parts.push({ text: text.slice(rest, start) });
    parts.push({ url, text: candidate });
    rest = start + candidate.length;
    URL_START.lastIndex = rest;
  }
  if (rest < text.length) parts.push({ text: text.slice(rest) });
  return parts;
}

function opener(closer) {
  return { ')': '(', ']': '[', '}': '{', '>': '<' }[closer];
}

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

/** The URL if it is a well-formed http(s) URL with a host, else null. */
function safeUrl(candidate) {
  try {
    const url = new URL(candidate);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return null;
    return url.href;
  } catch {
    return null;
  }
}

/**
 * Fills `p` with `text`: links clickable, and when `text` is long and not
 * `expanded`, only its start and a "Read more" button that calls `onExpand`.
 */
export function renderMessageText(p, text, { expanded = false, onExpand } = {}) {
  const long = text.length > PREVIEW_CHARS && !expanded;
  let shown = long ? text.slice(0, PREVIEW_CHARS) : text;
  // Never cut a surrogate pair in two.
  if (long && /[\uD800-\uDBFF]$/.test(shown)) shown = shown.slice(0, -1);
  const nodes = linkParts(shown).map((part) =>
    part.url ? h('a', { href: part.url, target: '_blank', rel: 'noopener noreferrer', text: part.text }) : document.createTextNode(part.text),
  );
  if (long) {
    nodes.push(document.createTextNode('… '));
    nodes.push(h('button', { type: 'button', class: 'link read-more', text: 'Read more', onclick: onExpand }));
  }
  p.replaceChildren(...nodes);
}
