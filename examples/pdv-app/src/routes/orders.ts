import { Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { HttpError, notFound } from '../http-error.js';
import { type Order, type OrderStatus, Orders, STATUSES } from '../orders.js';
import type { OrderEventType } from '../realtime.js';
import { requireUser, userOf } from '../session-user.js';
import { parseBody } from '../validate.js';

const NewOrderBody = z.object({
  table: z.string().trim().min(1).max(20),
  items: z
    .array(
      z.object({
        menuItemId: z.number().int().positive().max(2_147_483_647),
        qty: z.number().int().min(1).max(50),
      }),
    )
    .min(1)
    .max(50),
  note: z.string().trim().max(200).optional(),
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

/** /api/menu and /api/orders, always scoped to the restaurant of the session. */
export function orderRoutes(
  pool: pg.Pool,
  publish: (type: OrderEventType, order: Order) => void,
  onOrderChange: (type: OrderEventType) => void,
): Router {
  const orders = new Orders(pool);
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
    const user = userOf(req);
    const order = await orders.create(user.restaurantId, user.id, body);
    publish('order-created', order);
    onOrderChange('order-created');
    res.status(201).location(`/api/orders/${order.id}`).json(order);
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
