import type { Cache } from '@bancada/cache';
import { Router } from 'express';
import type pg from 'pg';
import { notFound } from '../http-error.js';
import { requireUser, userOf } from '../session-user.js';

/** What each plan allows. In the original app this came from a slow billing API. */
const PLANS: Record<string, { maxOpenOrders: number; maxKitchenScreens: number; history: string }> =
  {
    starter: { maxOpenOrders: 50, maxKitchenScreens: 2, history: '30 days' },
    pro: { maxOpenOrders: 500, maxKitchenScreens: 20, history: '1 year' },
  };

export interface SubscriptionLimits {
  restaurantId: string;
  plan: string;
  maxOpenOrders: number;
  maxKitchenScreens: number;
  history: string;
  computedAt: string;
  computedBy: string;
}

/**
 * GET /api/subscription/limits through the cache: `X-Cache: MISS` when this request ran the
 * lookup, `HIT` when any instance had already done it (with Redis), for 5 minutes.
 */
export function subscriptionRoutes(pool: pg.Pool, cache: Cache, instanceId: string): Router {
  const router = Router();
  router.get('/subscription/limits', requireUser, async (req, res) => {
    const { restaurantId } = userOf(req);
    let computed = false;
    const limits = await cache.getOrSet<SubscriptionLimits>(
      `subscription:limits:${restaurantId}`,
      async () => {
        computed = true;
        const found = await pool.query<{ plan: string }>(
          'SELECT plan FROM restaurants WHERE id = $1',
          [restaurantId],
        );
        const plan = found.rows[0]?.plan;
        const rules = plan === undefined ? undefined : PLANS[plan];
        if (plan === undefined || rules === undefined) throw notFound('restaurant');
        return {
          restaurantId,
          plan,
          ...rules,
          computedAt: new Date().toISOString(),
          computedBy: instanceId,
        };
      },
      300,
    );
    res.set('X-Cache', computed ? 'MISS' : 'HIT').json(limits);
  });
  return router;
}
