// dom.js -- builds DOM nodes from data without ever parsing HTML, so text from TikTok or the
// API can never become markup.

// h('a', {class: 'x', href: '/app', onclick: fn}, 'text', child, [more]) -> element.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function')
      el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'hidden')
      el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Text for screen readers only.
export function srOnly(text) {
  return h('span', { class: 'sr-only' }, text);
}

// Icons are drawn in a 24x24 box with round strokes; presentation attributes only, so the
// Content-Security-Policy (no inline style) is never in the way.
const ICONS = {
  inbox: ['M4 13h4l2 3h4l2-3h4', 'M5.5 5h13L21 13v5a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-5z'],
  plug: ['M9 3v5', 'M15 3v5', 'M6 8h12v3a6 6 0 0 1-12 0z', 'M12 17v4'],
  chart: ['M4 20V4', 'M4 20h16', 'M8 16v-5', 'M12 16V8', 'M16 16v-3', 'M20 16V6'],
  logout: ['M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3', 'M10 17l-5-5 5-5', 'M5 12h11'],
  send: ['M4 12l16-8-6 16-3-7z', 'M11 13l9-9'],
  clip: ['M20 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.4 17.3a1.7 1.7 0 0 1-2.4-2.4l7.6-7.6'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  checks: ['M2.5 12.5l4.5 4.5L16.5 7.5', 'M12.5 16l1 1L23 7.5'],
  clock: ['M12 7v5l3 2', 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z'],
  alert: ['M12 8v5', 'M12 16.5v.5', 'M10.3 3.9L2.4 17.5A2 2 0 0 0 4.1 20.5h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z'],
  retry: ['M4 12a8 8 0 0 1 14-5.3L20 9', 'M20 4v5h-5', 'M20 12a8 8 0 0 1-14 5.3L4 15', 'M4 20v-5h5'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  back: ['M15 5l-7 7 7 7'],
  chevron: ['M9 5l7 7-7 7'],
  note: ['M14 3v11.5a3.5 3.5 0 1 1-3.5-3.5', 'M14 3c.5 2.5 2.5 4.5 5 5'],
  image: ['M4 5h16v14H4z', 'M4 16l5-5 4 4 3-3 4 4', 'M15.5 9.5a1 1 0 1 0 0-.01'],
  link: ['M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1', 'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1'],
  plus: ['M12 5v14', 'M5 12h14'],
  search: ['M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z', 'M20 20l-4-4'],
  info: ['M12 11v5', 'M12 7.5v.5', 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z'],
  ok: ['M8 12.5l3 3 5-6', 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z'],
  upload: ['M12 16V4', 'M7 9l5-5 5 5', 'M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3'],
  key: ['M14.5 9.5a4.5 4.5 0 1 0-4.3 4.5', 'M10 14l-6 6', 'M6 18l2 2', 'M8 16l2 2'],
  eye: ['M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12z', 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z'],
  bolt: ['M13 2L4 14h7l-1 8 9-12h-7z'],
  calendar: ['M4 6h16v14H4z', 'M4 10h16', 'M8 3v4', 'M16 3v4'],
};

const SVG_NS = 'http://www.w3.org/2000/svg';

export function icon(name, extraClass) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon' + (extraClass ? ' ' + extraClass : ''));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '1.8');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  for (const d of ICONS[name] || ICONS.info) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

// A banner inside a page: kind is 'info', 'success', 'warning' or 'error'.
export function callout(kind, title, body, actions) {
  const iconName = { success: 'ok', warning: 'alert', error: 'alert', info: 'info' }[kind];
  return h(
    'div',
    { class: `callout callout--${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    icon(iconName, 'callout-icon'),
    h('div', { class: 'callout-body' },
      title ? h('strong', { class: 'callout-title' }, title) : null,
      body ? h('div', { class: 'callout-text' }, body) : null),
    actions ? h('div', { class: 'callout-actions' }, actions) : null,
  );
}

// Short-lived notification at the corner of the screen, announced politely.
let toastHost = null;
export function toast(text, kind = 'info') {
  if (!toastHost) {
    toastHost = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastHost);
  }
  const el = h('div', { class: `toast toast--${kind}` }, text);
  toastHost.append(el);
  setTimeout(() => el.classList.add('toast--out'), 3600);
  setTimeout(() => el.remove(), 4000);
}

// Moves focus to the page's heading after a navigation, for keyboard and screen readers.
export function focusHeading(root) {
  const heading = root.querySelector('h1');
  if (!heading) return;
  heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: true });
}
