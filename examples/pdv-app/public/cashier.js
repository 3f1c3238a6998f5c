import { ApiError, api, whoAmI } from './api.js';
import { liveOrders } from './live-orders.js';
import {
  age,
  el,
  itemsSummary,
  money,
  STATUS_LABELS,
  showConnection,
  showSession,
  toast,
} from './ui.js';

// The server's limits, so the screen stops the cashier before the API has to.
const MAX_QTY = 50;
const MAX_LINES = 50;
// Categories in the order a menu reads; any other comes after, as the API lists it.
const CATEGORY_ORDER = ['Starters', 'Snacks', 'Mains', 'Drinks', 'Desserts'];

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const form = document.getElementById('ticket');
const menuBox = byTestId('menu');
const linesBox = byTestId('ticket-lines');
const ticketEmpty = byTestId('ticket-empty');
const totalBox = byTestId('ticket-total');
const sendButton = byTestId('send-order');
const ticketMessage = byTestId('ticket-message');
const rowsBox = byTestId('orders');
const noOrders = byTestId('no-orders');
const openCount = byTestId('open-count');
const toastBox = byTestId('toast');

const menu = new Map(); // id → { id, name, category, priceCents }
const ticket = new Map(); // menuItemId → qty, in the order the dishes were tapped
const delivering = new Set(); // order ids whose "Delivered" is on its way
let attempt; // { body, key } of the last ticket sent, until the server took it

function showTicketMessage(text, kind) {
  ticketMessage.textContent = text;
  ticketMessage.dataset.kind = kind;
  ticketMessage.hidden = false;
}

// --- menu ------------------------------------------------------------------------------

function renderMenu(items) {
  menu.clear();
  const groups = new Map();
  for (const item of items) {
    menu.set(item.id, item);
    if (!groups.has(item.category)) groups.set(item.category, []);
    groups.get(item.category).push(item);
  }
  const rank = (category) => {
    const index = CATEGORY_ORDER.indexOf(category);
    return index === -1 ? CATEGORY_ORDER.length : index;
  };
  const categories = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
  menuBox.replaceChildren(
    ...categories.map((category) =>
      el(
        'section',
        { class: 'menu-group' },
        el('h3', { text: category }),
        el(
          'div',
          { class: 'menu-grid' },
          ...groups.get(category).map((item) =>
            el(
              'button',
              {
                type: 'button',
                class: 'menu-item',
                'data-testid': 'menu-item',
                'data-menu-item-id': item.id,
                on: { click: () => changeQty(item.id, 1) },
              },
              el('span', { class: 'name', text: item.name }),
              el('span', { class: 'price', text: money(item.priceCents) }),
              el('span', { class: 'in-ticket', 'data-testid': 'menu-item-qty', hidden: true }),
            ),
          ),
        ),
      ),
    ),
  );
  if (items.length === 0) menuBox.replaceChildren(el('p', { class: 'muted', text: 'No dishes.' }));
}

// --- the ticket being taken ---------------------------------------------------------------

function changeQty(menuItemId, delta) {
  const qty = (ticket.get(menuItemId) ?? 0) + delta;
  if (qty <= 0) ticket.delete(menuItemId);
  else if (!ticket.has(menuItemId) && ticket.size >= MAX_LINES) {
    showTicketMessage(`An order has at most ${MAX_LINES} different dishes.`, 'error');
    return;
  } else ticket.set(menuItemId, Math.min(qty, MAX_QTY));
  ticketMessage.hidden = true;
  renderTicket();
}

function renderTicket() {
  let total = 0;
  const lines = [];
  for (const [id, qty] of ticket) {
    const item = menu.get(id);
    if (!item) continue;
    total += qty * item.priceCents;
    lines.push(
      el(
        'li',
        { class: 'ticket-line', 'data-testid': 'ticket-line', 'data-menu-item-id': id },
        el('span', { class: 'name', text: item.name }),
        el(
          'span',
          { class: 'stepper' },
          el('button', {
            type: 'button',
            class: 'step',
            'data-testid': 'qty-minus',
            'aria-label': `One ${item.name} less`,
            text: '−',
            on: { click: () => changeQty(id, -1) },
          }),
          el('span', { class: 'qty', 'data-testid': 'qty', text: qty }),
          el('button', {
            type: 'button',
            class: 'step',
            'data-testid': 'qty-plus',
            'aria-label': `One ${item.name} more`,
            text: '+',
            disabled: qty >= MAX_QTY,
            on: { click: () => changeQty(id, 1) },
          }),
        ),
        el('span', { class: 'line-total', text: money(qty * item.priceCents) }),
      ),
    );
  }
  linesBox.replaceChildren(...lines);
  ticketEmpty.hidden = lines.length > 0;
  totalBox.textContent = money(total);
  for (const button of menuBox.querySelectorAll('[data-testid="menu-item"]')) {
    const qty = ticket.get(Number(button.dataset.menuItemId));
    const badge = button.querySelector('.in-ticket');
    badge.textContent = qty ? `×${qty}` : '';
    badge.hidden = !qty;
    button.classList.toggle('selected', Boolean(qty));
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const table = form.table.value.trim();
  const note = form.note.value.trim();
  if (ticket.size === 0) {
    showTicketMessage('Add at least one dish.', 'error');
    return;
  }
  if (!table) {
    showTicketMessage('Which table is it for?', 'error');
    form.table.focus();
    return;
  }
  const body = {
    table,
    items: [...ticket].map(([menuItemId, qty]) => ({ menuItemId, qty })),
  };
  if (note) body.note = note;
  // Sending the same ticket again after a failure reuses its key: if the first attempt was
  // saved after all, the server returns that order instead of taking it twice.
  const sent = JSON.stringify(body);
  if (attempt?.body !== sent) attempt = { body: sent, key: randomKey() };
  sendButton.disabled = true; // one tap, one order
  try {
    const order = await api('POST', '/api/orders', body, { 'idempotency-key': attempt.key });
    attempt = undefined;
    orders.put(order);
    ticket.clear();
    form.reset();
    renderTicket();
    showTicketMessage(`Order #${order.id} for table ${order.table} sent to the kitchen.`, 'ok');
    form.table.focus();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showTicketMessage(error.message, 'error');
    if (error.code === 'unknown_menu_item') loadMenu(); // the menu changed under us
  } finally {
    sendButton.disabled = false;
  }
});

/** 128 random bits in hex (crypto.randomUUID() exists only on HTTPS pages and localhost). */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// --- open orders ----------------------------------------------------------------------------

async function deliver(order) {
  delivering.add(order.id);
  renderOrders();
  try {
    orders.put(await api('PATCH', `/api/orders/${order.id}`, { status: 'delivered' }));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    toast(toastBox, `Order #${order.id}: ${error.message}`);
    if (error.code === 'invalid_transition' || error.status === 404) orders.reload();
  } finally {
    delivering.delete(order.id);
    renderOrders();
  }
}

function renderOrders() {
  const open = orders.list();
  const now = Date.now();
  rowsBox.replaceChildren(
    ...open.map((order) =>
      el(
        'li',
        {
          class: `order-row status-${order.status}`,
          'data-testid': 'order-row',
          'data-order-id': order.id,
          'data-status': order.status,
        },
        el('span', { class: 'order-id', text: `#${order.id}` }),
        el('span', { class: 'order-table', text: `Table ${order.table}` }),
        el(
          'span',
          { class: 'order-items' },
          itemsSummary(order.items),
          order.note ? el('em', { class: 'order-note', text: ` · ${order.note}` }) : null,
        ),
        el('span', { class: 'order-total', text: money(order.totalCents) }),
        el('span', { class: 'order-age', text: age(order.createdAt, now) }),
        el('span', {
          class: `status status-${order.status}`,
          'data-testid': 'order-status',
          text: STATUS_LABELS[order.status],
        }),
        order.status === 'ready'
          ? el('button', {
              type: 'button',
              class: 'deliver',
              'data-testid': 'deliver',
              text: 'Delivered',
              disabled: delivering.has(order.id),
              on: { click: () => deliver(order) },
            })
          : el('span', { class: 'deliver-placeholder' }),
      ),
    ),
  );
  noOrders.hidden = open.length > 0;
  openCount.textContent = String(open.length);
}

// --- start ----------------------------------------------------------------------------------

async function loadMenu() {
  try {
    const { items } = await api('GET', '/api/menu');
    renderMenu(items);
    renderTicket();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status !== 401) {
      menuBox.replaceChildren(
        el('p', { class: 'form-message', 'data-kind': 'error', text: error.message }),
      );
    }
  }
}

const me = await whoAmI(); // nobody: on the way to /login

let orders;
if (me) {
  showSession(me);
  const badge = byTestId('connection');
  orders = liveOrders({
    restaurantId: me.restaurant.id,
    onChange: renderOrders,
    onConnection: (change) => showConnection(badge, change),
    onError: (message) => toast(toastBox, message),
  });
  loadMenu();
  setInterval(renderOrders, 30_000); // ages
}
