import type pg from 'pg';
import { HttpError, notFound } from './http-error.js';
import {
  CommitOutcomeUnknownError,
  CommitRefusedError,
  endAbandonedSession,
  inTransaction,
} from './transaction.js';

export const STATUSES = ['new', 'preparing', 'ready', 'delivered'] as const;
export type OrderStatus = (typeof STATUSES)[number];

export interface OrderItem {
  menuItemId: number;
  name: string;
  qty: number;
  priceCents: number;
}

export interface Order {
  id: number;
  restaurantId: string;
  table: string;
  status: OrderStatus;
  items: OrderItem[];
  totalCents: number;
  note: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewOrder {
  table: string;
  items: Array<{ menuItemId: number; qty: number }>;
  note?: string | undefined;
}

/** What `create()` did: made the order, or found the one an earlier request with its key made. */
export interface CreatedOrder {
  order: Order;
  replayed: boolean;
}

interface OrderRow {
  id: string;
  restaurant_id: string;
  table_label: string;
  status: OrderStatus;
  items: OrderItem[];
  total_cents: number;
  note: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'id, restaurant_id, table_label, status, items, total_cents, note, created_at, updated_at';

const toOrder = (row: OrderRow): Order => ({
  id: Number(row.id),
  restaurantId: row.restaurant_id,
  table: row.table_label,
  status: row.status,
  items: row.items,
  totalCents: row.total_cents,
  note: row.note,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

/** The status an order must have before it can move to `status`. */
export function previousStatus(status: OrderStatus): OrderStatus | undefined {
  const index = STATUSES.indexOf(status);
  return index > 0 ? STATUSES[index - 1] : undefined;
}

/**
 * Orders of one restaurant. Every query is scoped by the restaurant id of the session, so an
 * order id of another restaurant is simply not found.
 *
 * A write answered with an error is never applied later: a connection in an unknown state is
 * closed, not reused (see transaction.ts), and a COMMIT that got no answer is settled before
 * answering: the session that sent it is ended, and the order looked up by its key.
 */
export class Orders {
  /**
   * `timeoutMs`: how long settling an unanswered COMMIT may take. `canEndSessions`: false on
   * the embedded database, whose one backend serves every connection.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly timeoutMs: number,
    private readonly canEndSessions: boolean,
  ) {}

  async list(restaurantId: string, statuses: readonly OrderStatus[]): Promise<Order[]> {
    const result = await this.pool.query<OrderRow>(
      `SELECT ${COLUMNS} FROM orders WHERE restaurant_id = $1 AND status = ANY($2::text[])
       ORDER BY id LIMIT 500`,
      [restaurantId, statuses],
    );
    return result.rows.map(toOrder);
  }

  async get(restaurantId: string, id: number): Promise<Order> {
    const result = await this.pool.query<OrderRow>(
      `SELECT ${COLUMNS} FROM orders WHERE id = $1 AND restaurant_id = $2`,
      [id, restaurantId],
    );
    const row = result.rows[0];
    if (!row) throw notFound('order');
    return toOrder(row);
  }

  /**
   * Prices come from the menu, never from the client. `key` (the request's Idempotency-Key,
   * or one made up for it) is unique per restaurant: a second request with it gets the
   * first one's order, if that one was the same order; a 422 if it was another.
   */
  async create(
    restaurantId: string,
    userId: number,
    order: NewOrder,
    key: string,
  ): Promise<CreatedOrder> {
    try {
      return await this.insert(restaurantId, userId, order, key);
    } catch (error) {
      if (error instanceof CommitRefusedError)
        throw notSaved('the order was not saved; send it again');
      if (!(error instanceof CommitOutcomeUnknownError)) throw error;
      const settled = await this.settle(error);
      const found = await this.findByKey(restaurantId, key).catch(() => undefined);
      if (found) return { order: found, replayed: false };
      if (settled) throw notSaved('the order was not saved; send it again');
      throw new HttpError(
        503,
        'order_outcome_unknown',
        `the database did not confirm the order, and it may have been saved: send it again with Idempotency-Key: ${key}, which returns it if it was, and never doubles it`,
        { 'Retry-After': '5', 'Idempotency-Key': key },
      );
    }
  }

  private async insert(
    restaurantId: string,
    userId: number,
    order: NewOrder,
    key: string,
  ): Promise<CreatedOrder> {
    const ids = [...new Set(order.items.map((item) => item.menuItemId))];
    return this.inAppTransaction(async (client) => {
      const menu = await client.query<{ id: number; name: string; price_cents: number }>(
        'SELECT id, name, price_cents FROM menu_items WHERE restaurant_id = $1 AND id = ANY($2::int[])',
        [restaurantId, ids],
      );
      const byId = new Map(menu.rows.map((row) => [row.id, row]));
      const items = order.items.map(({ menuItemId, qty }) => {
        const item = byId.get(menuItemId);
        if (!item) {
          throw new HttpError(
            400,
            'unknown_menu_item',
            `menu item ${menuItemId} is not on the menu`,
          );
        }
        return { menuItemId, name: item.name, qty, priceCents: item.price_cents };
      });
      const total = items.reduce((sum, item) => sum + item.qty * item.priceCents, 0);
      // A request with the same key in flight makes this wait for it, then find its row.
      const result = await client.query<OrderRow>(
        `INSERT INTO orders
           (restaurant_id, table_label, items, total_cents, note, created_by, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (restaurant_id, idempotency_key) WHERE idempotency_key IS NOT NULL
         DO NOTHING RETURNING ${COLUMNS}`,
        [restaurantId, order.table, JSON.stringify(items), total, order.note ?? null, userId, key],
      );
      const row = result.rows[0];
      if (row) return { order: toOrder(row), replayed: false };
      const earlier = await client.query<OrderRow>(
        `SELECT ${COLUMNS} FROM orders WHERE restaurant_id = $1 AND idempotency_key = $2`,
        [restaurantId, key],
      );
      const existing = toOrder(earlier.rows[0] as OrderRow);
      if (!sameOrder(existing, order)) {
        throw new HttpError(
          422,
          'idempotency_key_reused',
          'this Idempotency-Key was used for another order; use a new key for a new order',
        );
      }
      return { order: existing, replayed: true };
    });
  }

  private async findByKey(restaurantId: string, key: string): Promise<Order | undefined> {
    const result = await this.pool.query<OrderRow>(
      `SELECT ${COLUMNS} FROM orders WHERE restaurant_id = $1 AND idempotency_key = $2`,
      [restaurantId, key],
    );
    const row = result.rows[0];
    return row ? toOrder(row) : undefined;
  }

  /** Moves an order one step forward (new → preparing → ready → delivered), or says why not. */
  async advance(restaurantId: string, id: number, status: OrderStatus): Promise<Order> {
    const from = previousStatus(status);
    let updated: pg.QueryResult<OrderRow>;
    try {
      updated = await this.inAppTransaction((client) =>
        client.query<OrderRow>(
          `UPDATE orders SET status = $3, updated_at = now()
           WHERE id = $1 AND restaurant_id = $2 AND status = $4 RETURNING ${COLUMNS}`,
          [id, restaurantId, status, from ?? ''],
        ),
      );
    } catch (error) {
      if (error instanceof CommitRefusedError)
        throw notSaved('the status was not changed; try again');
      if (!(error instanceof CommitOutcomeUnknownError)) throw error;
      const settled = await this.settle(error);
      const now = await this.get(restaurantId, id).catch(() => undefined);
      // Moved on: by this request (or by another one meanwhile, which is as good).
      if (now && STATUSES.indexOf(now.status) >= STATUSES.indexOf(status)) return now;
      throw settled
        ? notSaved('the status was not changed; try again')
        : new HttpError(
            503,
            'order_outcome_unknown',
            `the database did not confirm the change; reload order ${id} to see its status`,
            { 'Retry-After': '5' },
          );
    }
    const row = updated.rows[0];
    if (row) return toOrder(row);
    const current = await this.get(restaurantId, id); // 404 when not this restaurant's
    throw new HttpError(
      409,
      'invalid_transition',
      `order ${id} is ${current.status}; it can only move to ${
        STATUSES[STATUSES.indexOf(current.status) + 1] ?? 'nothing (it is delivered)'
      }`,
    );
  }

  /** Ends the session of an unanswered COMMIT, so that its outcome is final (see transaction.ts). */
  private settle(error: CommitOutcomeUnknownError): Promise<boolean> {
    if (!this.canEndSessions) return Promise.resolve(false);
    return endAbandonedSession(this.pool, error.processId, this.timeoutMs);
  }

  /**
   * Runs `work` in a transaction marked as the app's own (`pdv.source = 'app'`): the
   * ticket_updates trigger skips it, because the app publishes these changes itself.
   */
  private inAppTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      await client.query("SELECT set_config('pdv.source', 'app', true)");
      return work(client);
    });
  }
}

/** A 503 for a write that is known not to have happened. */
const notSaved = (message: string) =>
  new HttpError(503, 'unavailable', `the database did not answer in time; ${message}`, {
    'Retry-After': '5',
  });

/** Whether `order` asks for what `existing` is: same table, note and lines. */
function sameOrder(existing: Order, order: NewOrder): boolean {
  const lines = (items: ReadonlyArray<{ menuItemId: number; qty: number }>) =>
    JSON.stringify(items.map(({ menuItemId, qty }) => [menuItemId, qty]));
  return (
    existing.table === order.table &&
    existing.note === (order.note ?? null) &&
    lines(existing.items) === lines(order.items)
  );
}
