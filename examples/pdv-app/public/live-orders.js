import { connect } from '/assets/realtime-client.js';
import { ApiError, api, goToLogin } from './api.js';

const RANK = { new: 0, preparing: 1, ready: 2, delivered: 3 };
const RELOAD_RETRY_MS = 3000;

/**
 * True when `a` is a later version of the same order than `b`: a newer `updatedAt`, or the
 * same one and a later status (status only moves forward).
 */
export function isNewer(a, b) {
  const at = Date.parse(a.updatedAt);
  const bt = Date.parse(b.updatedAt);
  if (at !== bt) return at > bt;
  return RANK[a.status] > RANK[b.status];
}

function isOrder(value, restaurantId) {
  return (
    typeof value === 'object' &&
    value !== null &&
    Number.isInteger(value.id) &&
    value.restaurantId === restaurantId &&
    value.status in RANK &&
    Array.isArray(value.items) &&
    typeof value.updatedAt === 'string'
  );
}

/**
 * The open orders of a restaurant, kept up to date through the realtime hub: loaded from
 * `/api/orders`, then changed by `order-created` / `order-updated` events, and loaded again
 * on `gap` and after a lost connection comes back. Every version of an order is merged by id,
 * keeping the newest, so an event for an order already shown never duplicates it and a late
 * event never takes it back a step.
 *
 * `onChange()` runs after each change; `onConnection({ state, transport })` on each change
 * of the connection; `onError(message)` when the list could not be loaded.
 * `transport: 'sse'` skips WebSocket (see the comment below).
 */
export function liveOrders({ restaurantId, onChange, onConnection, onError, transport }) {
  // Delivered orders stay here until the next reload so that a late event cannot bring one back.
  const orders = new Map();
  let heardDuringLoad; // versions heard while a load is in flight, re-applied over its result
  let loading;
  let loadAgain = false;
  let retryTimer;

  const merge = (order) => {
    const known = orders.get(order.id);
    if (known !== undefined && !isNewer(order, known)) return false;
    orders.set(order.id, order);
    return true;
  };

  const put = (order) => {
    heardDuringLoad?.push(order);
    if (merge(order)) onChange();
  };

  const loadOnce = async () => {
    const heard = [];
    heardDuringLoad = heard;
    try {
      const { orders: open } = await api('GET', '/api/orders');
      // The list is the truth as of the query: anything else known was delivered since,
      // unless it was heard while the list was on its way.
      orders.clear();
      for (const order of open) merge(order);
      for (const order of heard) merge(order);
      onChange();
    } finally {
      heardDuringLoad = undefined;
    }
  };

  /** Loads the list again; a call during a load asks for one more after it (it may be stale). */
  const reload = () => {
    clearTimeout(retryTimer);
    if (loading) {
      loadAgain = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          loadAgain = false;
          await loadOnce();
        } while (loadAgain);
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return; // going to /login
        onError?.(`Could not load the orders: ${error.message}`);
        retryTimer = setTimeout(reload, RELOAD_RETRY_MS);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };

  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const options = { sse: { url: '/events' } };
  if (transport === 'sse') {
    // The SDK has no switch for SSE only. A WebSocket that cannot be made counts as a failed
    // attempt; with fallbackAfter 1 the first one moves the client to SSE for good.
    options.createWebSocket = () => {
      throw new Error('WebSocket disabled by ?transport=sse');
    };
    options.sse.fallbackAfter = 1;
  }
  const client = connect(`${scheme}://${location.host}/ws`, options);
  let wasOpen = false;
  client.on('state', (change) => {
    onConnection(change);
    if (change.state !== 'open') return;
    if (wasOpen) reload(); // back after a loss: whatever happened meanwhile
    wasOpen = true;
  });
  client.on('event', (event) => {
    if (event.eventType !== 'order-created' && event.eventType !== 'order-updated') return;
    if (isOrder(event.payload, restaurantId)) put(event.payload);
  });
  client.on('gap', () => reload());
  client.on('error', (error) => {
    console.warn(`realtime: ${error.code}: ${error.message}`);
    // The session ended (logged out elsewhere, expired): the server closed the stream, and
    // the reconnect was refused. Log in again rather than show a screen that went quiet.
    if (error.code === 'unauthorized') goToLogin();
  });
  client.join(`restaurant:${restaurantId}`);
  onConnection({ state: client.state, transport: client.transport });

  // A page restored from the back/forward cache has a closed client: start afresh.
  addEventListener('pagehide', () => client.close());
  addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });

  const firstLoad = reload();

  return {
    /** Settles once the first load is over (whether it worked or not). */
    loaded: firstLoad,
    /** Open orders, oldest first. */
    list: () =>
      [...orders.values()]
        .filter((order) => order.status !== 'delivered')
        .sort((a, b) => a.id - b.id),
    /** An order this page got from the API itself (the event for it may come before or after). */
    put,
    reload,
  };
}
