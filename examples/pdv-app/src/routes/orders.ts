import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { HttpError, notFound } from '../http-error.js';
import { type Order, type OrderStatus, Orders, STATUSES } from '../orders.js';
import type { OrderEventType } from '../realtime.js';
import { requireUser, userOf } from '../session-user.js';
import { parseBody, text } from '../validate.js';

const NewOrderBody = z.object({
  table: text().trim().min(1).max(20),
  items: z
    .array(
      z.object({
        menuItemId: z.number().int().positive().max(2_147_483_647),
        qty: z.number().int().min(1).max(50),
      }),
    )
    .min(1)
    .max(50),
  note: text().trim().max(200).optional(),
});

const StatusBody = z.object({ status: z.enum(STATUSES) });

const OPEN: OrderStatus[] = ['new', 'preparing', 'ready'];

/** An id from the URL; anything that is not one is an order that does not exist. */
function orderId(raw: string | undefined): number {
  if (!raw || !/^[1-9]\d{0,14}$/.test(raw)) throw notFound('order');
  return Number(raw);
}

function statusFilter(raw: unknown): OrderStatus[] {
  if (raw === undefined) return OPEN;
  const wanted = String(raw).split(',');
  const valid = wanted.filter((s): s is OrderStatus => (STATUSES as readonly string[]).includes(s));
  if (valid.length !== wanted.length) {
    throw new HttpError(400, 'invalid_request', `status must be among ${STATUSES.join(', ')}`);
  }
  return valid;
}

/**
 * The request's `Idempotency-Key`, or a new one: every order gets one, so that an order whose
 * COMMIT went unanswered can be looked up by it.
 */
function idempotencyKey(raw: string | undefined): string {
  if (raw === undefined) return randomUUID();
  if (!/^[\x21-\x7e]{1,100}$/.test(raw)) {
    throw new HttpError(
      400,
      'invalid_request',
      'Idempotency-Key must be 1 to 100 visible ASCII characters (a UUID, for instance)',
    );
  }
  return raw;
}

/** /api/menu and /api/orders, always scoped to the restaurant of the session. */
export function orderRoutes(
  pool: pg.Pool,
  publish: (type: OrderEventType, order: Order) => void,
  onOrderChange: (type: OrderEventType) => void,
  database: { timeoutMs: number; canEndSessions: boolean },
): Router {
  const orders = new Orders(pool, database.timeoutMs, database.canEndSessions);
  const router = Router();
  router.get('/menu', requireUser, async (req, res) => {
    const result = await pool.query(
      `SELECT id, name, category, price_cents AS "priceCents" FROM menu_items
       WHERE restaurant_id = $1 ORDER BY category, id`,
      [userOf(req).restaurantId],
    );
    res.json({ items: result.rows });
  });

  router.get('/orders', requireUser, async (req, res) => {
    res.json({
      orders: await orders.list(userOf(req).restaurantId, statusFilter(req.query.status)),
    });
  });

  router.get('/orders/:id', requireUser, async (req, res) => {
    res.json(await orders.get(userOf(req).restaurantId, orderId(String(req.params.id))));
  });

  router.post('/orders', requireUser, async (req, res) => {
    const body = parseBody(NewOrderBody, req);
    const key = idempotencyKey(req.get('Idempotency-Key'));
    const user = userOf(req);
    const { order, replayed } = await orders.create(user.restaurantId, user.id, body, key);
    // Also for a replay: its first request may have ended before it could publish. Screens
    // merge an order they already have.
    publish('order-created', order);
    if (!replayed) onOrderChange('order-created');
    res
      .status(replayed ? 200 : 201)
      .location(`/api/orders/${order.id}`)
      .set(replayed ? { 'Idempotent-Replayed': 'true' } : {})
      .json(order);
  });

  router.patch('/orders/:id', requireUser, async (req, res) => {
    const id = orderId(String(req.params.id));
    const { status } = parseBody(StatusBody, req);
    const order = await orders.advance(userOf(req).restaurantId, id, status);
    publish('order-updated', order);
    onOrderChange('order-updated');
    res.json(order);
  });

  return router;
}
