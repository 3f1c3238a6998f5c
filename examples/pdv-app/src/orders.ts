import type pg from 'pg';
import { HttpError, notFound } from './http-error.js';

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
 */
export class Orders {
  constructor(private readonly pool: pg.Pool) {}

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

  /** Prices come from the menu, never from the client. */
  async create(restaurantId: string, userId: number, order: NewOrder): Promise<Order> {
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
      const result = await client.query<OrderRow>(
        `INSERT INTO orders (restaurant_id, table_label, items, total_cents, note, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
        [restaurantId, order.table, JSON.stringify(items), total, order.note ?? null, userId],
      );
      return toOrder(result.rows[0] as OrderRow);
    });
  }

  /** Moves an order one step forward (new → preparing → ready → delivered), or says why not. */
  async advance(restaurantId: string, id: number, status: OrderStatus): Promise<Order> {
    const from = previousStatus(status);
    const updated = await this.inAppTransaction((client) =>
      client.query<OrderRow>(
        `UPDATE orders SET status = $3, updated_at = now()
         WHERE id = $1 AND restaurant_id = $2 AND status = $4 RETURNING ${COLUMNS}`,
        [id, restaurantId, status, from ?? ''],
      ),
    );
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

  /**
   * Runs `work` in a transaction marked as the app's own (`pdv.source = 'app'`): the
   * ticket_updates trigger skips it, because the app publishes these changes itself.
   */
  private async inAppTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('pdv.source', 'app', true)");
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }
}
