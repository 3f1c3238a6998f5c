import { api } from './api.js';

/**
 * Makes an element. `props`: `class`, `text` (set as textContent), `on` ({ click: fn }), and
 * any other key as an attribute. Children are nodes or strings (text nodes); null and false
 * are skipped. Data never goes through innerHTML, so a table called "<img onerror>" stays text.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'on') {
      for (const [type, listener] of Object.entries(value)) node.addEventListener(type, listener);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child);
  }
  return node;
}

const brl = new Intl.NumberFormat('pt-BR', { style: 'currency', currency: 'BRL' });

/** 1250 → "R$ 12,50". */
export function money(cents) {
  return brl.format(cents / 100);
}

/** How long ago `iso` was, as a kitchen reads it: "now", "4 min", "1 h 05". */
export function age(iso, now = Date.now()) {
  const minutes = Math.max(0, Math.floor((now - Date.parse(iso)) / 60_000));
  if (minutes < 1) return 'now';
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')}`;
}

/** Minutes since `iso`, for colouring orders that wait too long. */
export function minutesSince(iso, now = Date.now()) {
  return Math.max(0, (now - Date.parse(iso)) / 60_000);
}

/** "2× Coxinha, 1× Guaraná". */
export function itemsSummary(items) {
  return items.map((item) => `${item.qty}× ${item.name}`).join(', ');
}

export const STATUS_LABELS = {
  new: 'New',
  preparing: 'Preparing',
  ready: 'Ready',
  delivered: 'Delivered',
};

/** Fills the page header with who is logged in, and wires the logout button. */
export function showSession(me) {
  document.querySelector('[data-testid="restaurant-name"]').textContent = me.restaurant.name;
  document.querySelector('[data-testid="user-name"]').textContent = me.user.name;
  document.title = `${document.title.split(' · ')[0]} · ${me.restaurant.name}`;
  const logout = document.querySelector('[data-testid="logout"]');
  logout.addEventListener('click', async () => {
    logout.disabled = true;
    try {
      await api('POST', '/api/logout');
    } finally {
      location.assign('/login');
    }
  });
}

const CONNECTION_LABELS = {
  connecting: 'connecting…',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

/** The connection badge: "live · websocket", "reconnecting…". */
export function showConnection(badge, { state, transport }) {
  badge.dataset.state = state;
  badge.dataset.transport = transport;
  badge.textContent = state === 'open' ? `live · ${transport}` : CONNECTION_LABELS[state];
  badge.title =
    state === 'open'
      ? 'Orders appear here as soon as they are taken'
      : 'Not connected: the screen will catch up when the connection is back';
}

/** A short message at the bottom of the screen that goes away by itself. */
export function toast(node, text, kind = 'error') {
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
  clearTimeout(node.hideTimer);
  node.hideTimer = setTimeout(() => {
    node.hidden = true;
  }, 6000);
}
