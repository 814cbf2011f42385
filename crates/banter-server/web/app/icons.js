// Icons as inline SVG built with DOM APIs (no icon font, nothing from
// another origin, nothing through an HTML sink). Each icon is decorative
// (aria-hidden): the button that holds it carries the accessible name
// (aria-label) and a tooltip (title).

const SVG = 'http://www.w3.org/2000/svg';

// 24×24 outlines drawn with the current text colour. Each entry: path data,
// or ['circle', cx, cy, r].
const SHAPES = {
  back: ['M15 18l-6-6 6-6'],
  send: ['M22 2L11 13', 'M22 2l-7 20-4-9-9-4z'],
  settings: ['M4 21v-7M4 10V3M12 21v-9M12 8V3M20 21v-5M20 12V3', 'M1 14h6M9 8h6M17 16h6'],
  logout: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'],
  members: [['circle', 9, 7, 4], 'M2 21v-2a4 4 0 0 1 4-4h6a4 4 0 0 1 4 4v2', 'M16 3.1a4 4 0 0 1 0 7.8', 'M22 21v-2a4 4 0 0 0-3-3.9'],
  bell: ['M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9', 'M13.7 21a2 2 0 0 1-3.4 0'],
  bellOff: ['M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9', 'M13.7 21a2 2 0 0 1-3.4 0', 'M3 3l18 18'],
  newChat: ['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z', 'M12 7v6M9 10h6'],
  newGroup: [['circle', 9, 7, 4], 'M2 21v-2a4 4 0 0 1 4-4h6a4 4 0 0 1 4 4v2', 'M19 8v6M16 11h6'],
  block: [['circle', 12, 12, 10], 'M4.9 4.9l14.2 14.2'],
  help: [['circle', 12, 12, 10], 'M9.1 9a3 3 0 0 1 5.8 1c0 2-3 3-3 3', 'M12 17h.01'],
};

const SVG_ATTRIBUTES = {
  viewBox: '0 0 24 24',
  width: '22',
  height: '22',
  fill: 'none',
  stroke: 'currentColor',
  'stroke-width': '2',
  'stroke-linecap': 'round',
  'stroke-linejoin': 'round',
  'aria-hidden': 'true',
  focusable: 'false',
  class: 'icon',
};

/** An `<svg>` icon by name (see SHAPES). */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries(SVG_ATTRIBUTES)) svg.setAttribute(k, v);
  for (const shape of SHAPES[name] ?? []) {
    let el;
    if (Array.isArray(shape)) {
      el = document.createElementNS(SVG, 'circle');
      el.setAttribute('cx', String(shape[1]));
      el.setAttribute('cy', String(shape[2]));
      el.setAttribute('r', String(shape[3]));
    } else {
      el = document.createElementNS(SVG, 'path');
      el.setAttribute('d', shape);
    }
    svg.appendChild(el);
  }
  return svg;
}

/** Replaces the icon inside `button` (the mute toggle changes its bell). */
export function setIcon(button, name) {
  if (button.dataset.icon === name) return;
  button.dataset.icon = name;
  button.replaceChildren(icon(name));
}
