// Building DOM without HTML strings. Every piece of text goes through
// textContent or a Text node, never innerHTML: whatever a message contains
// (`<script>`, `<img onerror>`) is shown as the characters it is.

/**
 * Creates an element. `props`: `class`, `text` (textContent), `on<event>`
 * handlers, `dataset` (object), booleans (`hidden`, `disabled`) and any
 * other attribute. Children: nodes, strings (as text), arrays, null.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Sets textContent only when it changed (keeps selections and avoids layout work). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
