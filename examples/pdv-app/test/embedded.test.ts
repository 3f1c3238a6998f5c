import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCookie, type RunningPdv, startPdv } from './helpers/instances.js';
import { openScreen } from './helpers/screens.js';

// `npm start` with nothing configured: an embedded Postgres, no Redis. The whole app must
// work, and say plainly that it is a single instance.

let pdv: RunningPdv;

beforeAll(async () => {
  pdv = await startPdv({ instanceId: 'embedded-1' });
});

afterAll(async () => {
  await pdv?.close();
});

describe('on embedded defaults', () => {
  it('says what it detected at start', () => {
    expect(pdv.logs).toEqual(
      expect.arrayContaining([
        'info database: embedded postgres at memory:// (single instance only); 4 migration(s) applied',
        'info session: embedded postgres at memory:// (single instance only)',
        'info cache: memory (single instance only)',
        'info realtime: local (single instance only)',
        'info notify bridge: off (embedded postgres has no LISTEN)',
        'info login rate limit: memory (per instance)',
      ]),
    );
  });

  it('is healthy, not degraded, with every mode local', async () => {
    const health = await (await fetch(`${pdv.url}/health`)).json();
    expect(health).toMatchObject({
      status: 'ok',
      degraded: false,
      postgres: 'up',
      redis: 'not configured',
      modes: {
        database: 'embedded',
        session: 'embedded',
        cache: 'memory',
        realtime: 'local',
        notifyBridge: 'off',
      },
    });
  });

  it('takes an order and shows it on the kitchen screen', async () => {
    const cookie = await loginCookie(pdv.url, 'ana@sol.demo', 'demo-pdv');
    const kitchen = await openScreen(pdv.url, cookie, 'sol');
    try {
      const menu = (await (await fetch(`${pdv.url}/api/menu`, { headers: { cookie } })).json()) as {
        items: Array<{ id: number; priceCents: number }>;
      };
      const response = await fetch(`${pdv.url}/api/orders`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: JSON.stringify({ table: '2', items: [{ menuItemId: menu.items[0]?.id, qty: 3 }] }),
      });
      expect(response.status).toBe(201);
      const order = (await response.json()) as { id: number; totalCents: number };
      expect(order.totalCents).toBe((menu.items[0]?.priceCents ?? 0) * 3);
      await expect
        .poll(() => kitchen.eventsOf(order.id).map((e) => e.eventType))
        .toEqual(['order-created']);
    } finally {
      kitchen.close();
    }
  });
});
