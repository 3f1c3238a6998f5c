import { ApiError, api, whoAmI } from './api.js';
import { liveOrders } from './live-orders.js';
import { age, el, minutesSince, showConnection, showSession, toast } from './ui.js';

/** The one step each column's button takes. */
const NEXT = {
  new: { status: 'preparing', label: 'Start' },
  preparing: { status: 'ready', label: 'Ready' },
  ready: { status: 'delivered', label: 'Delivered' },
};
/** Waiting longer than this (and not ready yet), a card turns red. */
const LATE_MINUTES = 15;

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const columns = {};
const counts = {};
for (const status of Object.keys(NEXT)) {
  columns[status] = byTestId(`column-${status}`).querySelector('.cards');
  counts[status] = byTestId(`count-${status}`);
}
const toastBox = byTestId('toast');

/** id → { node, version }: one card per order, rebuilt only when the order changes. */
const cards = new Map();
const advancing = new Set();
let loaded = false; // cards that arrive after the first list get a highlight

function buildCard(order, fresh) {
  const next = NEXT[order.status];
  return el(
    'li',
    {
      class: `card status-${order.status}${fresh ? ' fresh' : ''}`,
      'data-testid': 'order-card',
      'data-order-id': order.id,
      'data-status': order.status,
    },
    el(
      'div',
      { class: 'card-head' },
      el('span', {
        class: 'card-title',
        'data-testid': 'order-title',
        text: `#${order.id} · table ${order.table}`,
      }),
      el('span', { class: 'age', 'data-testid': 'order-age' }),
    ),
    el(
      'ul',
      { class: 'card-items', 'data-testid': 'order-items' },
      ...order.items.map((item) =>
        el(
          'li',
          { 'data-menu-item-id': item.menuItemId },
          el('span', { class: 'qty', text: `${item.qty}×` }),
          ' ',
          el('span', { text: item.name }),
        ),
      ),
    ),
    order.note
      ? el('p', { class: 'card-note', 'data-testid': 'order-note', text: order.note })
      : null,
    el('button', {
      type: 'button',
      class: `advance to-${next.status}`,
      'data-testid': 'advance',
      text: next.label,
      disabled: advancing.has(order.id),
      on: { click: () => advance(order) },
    }),
  );
}

/** Puts `nodes` in `parent` in this order, moving only what is out of place (keeps focus). */
function placeChildren(parent, nodes) {
  nodes.forEach((node, index) => {
    const current = parent.children[index];
    if (current !== node) parent.insertBefore(node, current ?? null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

function render() {
  const now = Date.now();
  const inColumn = { new: [], preparing: [], ready: [] };
  const shown = new Set();
  for (const order of orders.list()) {
    shown.add(order.id);
    const version = `${order.status}|${order.updatedAt}|${advancing.has(order.id)}`;
    let card = cards.get(order.id);
    if (card?.version !== version) {
      const node = buildCard(order, loaded && card === undefined);
      card?.node.replaceWith(node);
      card = { node, version };
      cards.set(order.id, card);
    }
    card.node.querySelector('.age').textContent = age(order.createdAt, now);
    card.node.classList.toggle(
      'late',
      order.status !== 'ready' && minutesSince(order.createdAt, now) >= LATE_MINUTES,
    );
    inColumn[order.status].push(card.node);
  }
  for (const [id, card] of cards) {
    if (!shown.has(id)) {
      card.node.remove();
      cards.delete(id);
    }
  }
  for (const status of Object.keys(NEXT)) {
    placeChildren(columns[status], inColumn[status]);
    counts[status].textContent = String(inColumn[status].length);
  }
}

async function advance(order) {
  const next = NEXT[order.status];
  advancing.add(order.id);
  render();
  try {
    orders.put(await api('PATCH', `/api/orders/${order.id}`, { status: next.status }));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    toast(toastBox, `Order #${order.id}: ${error.message}`);
    // Someone else moved it first (another screen): show what is true now.
    if (error.code === 'invalid_transition' || error.status === 404) orders.reload();
  } finally {
    advancing.delete(order.id);
    render();
  }
}

const me = await whoAmI(); // nobody: on the way to /login

let orders;
if (me) {
  showSession(me);
  const badge = byTestId('connection');
  const transport = new URLSearchParams(location.search).get('transport');
  orders = liveOrders({
    restaurantId: me.restaurant.id,
    transport: transport === 'sse' ? 'sse' : undefined,
    onChange: render,
    onConnection: (change) => showConnection(badge, change),
    onError: (message) => toast(toastBox, message),
  });
  orders.loaded.then(() => {
    loaded = true;
  });
  setInterval(render, 30_000); // ages
}
