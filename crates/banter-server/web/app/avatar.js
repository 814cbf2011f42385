// Avatars: initials on a colour of their own per person (or group), so a
// list or a group chat can be told apart at a glance. The colour is a stable
// hash of the id into a palette whose pairs (style.css, `--hue-N-*`) keep
// text contrast ≥ 4.5:1 in light and dark mode.

import { setText } from './dom.js';
import { initials } from './format.js';

const PALETTE_SIZE = 8;

/** Palette index of an id: the same id always gets the same colour. */
export function avatarHue(id) {
  if (typeof id !== 'number' || !Number.isFinite(id)) return 0;
  // Knuth's multiplicative hash spreads consecutive ids over the palette.
  return (Math.imul(id | 0, 2654435761) >>> 0) % PALETTE_SIZE;
}

/** Fills an avatar element with the initials of `name` and the colour of `id`; returns it. */
export function paintAvatar(el, name, id) {
  setText(el, initials(name || '?'));
  const hue = String(avatarHue(id));
  if (el.dataset.hue !== hue) el.dataset.hue = hue;
  return el;
}
