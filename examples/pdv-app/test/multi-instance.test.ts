import {
  cleanupPrefix,
  createDatabase,
  keyPrefix,
  redisUrl,
  startRedis,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loginCookie,
  type RunningPdv,
  requestAcrossTheDrain,
  startPdv,
} from './helpers/instances.js';
import { openScreen, type Screen } from './helpers/screens.js';

// Two instances of the app on one Redis and one Postgres, as behind a balancer: whichever
// instance a request lands on, the user, the orders, the screens and the cache are the same.

let db: TestDatabase;
let redis: string;
const prefix = keyPrefix('pdv-multi');
let one: RunningPdv;
let two: RunningPdv;

beforeAll(async () => {
  db = await createDatabase('pdv_multi');
  redis = await redisUrl();
  // Started together, as a deploy does: the migrations must not race.
  [one, two] = await Promise.all([
    startPdv({
      databaseUrl: db.url,
      redisUrl: redis,
      prefix,
      instanceId: 'pdv-1',
      loginAttempts: 3,
    }),
    startPdv({
      databaseUrl: db.url,
      redisUrl: redis,
      prefix,
      instanceId: 'pdv-2',
      loginAttempts: 3,
    }),
  ]);
  await Promise.all([one.pdv.hub.ready(5_000), two.pdv.hub.ready(5_000)]);
});

afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await db?.drop();
  if (redis) await cleanupPrefix(redis, prefix);
});

const get = (base: RunningPdv, path: string, cookie?: string) =>
  fetch(`${base.url}${path}`, { headers: cookie ? { cookie } : {} });

async function createOrder(base: RunningPdv, cookie: string, table: string) {
  const menu = (await (await get(base, '/api/menu', cookie)).json()) as {
    items: Array<{ id: number }>;
  };
  const response = await fetch(`${base.url}/api/orders`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ table, items: [{ menuItemId: menu.items[0]?.id, qty: 1 }] }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: number };
}

describe('two instances behind a balancer', () => {
  it('say they are distributed and healthy', async () => {
    for (const instance of [one, two]) {
      const health = (await (await get(instance, '/health')).json()) as Record<string, unknown>;
      expect(health).toMatchObject({
        status: 'ok',
        instance: instance.instanceId,
        redis: 'up',
        postgres: 'up',
        modes: { cache: 'redis', session: 'postgres', realtime: 'redis', fanout: 'on' },
      });
    }
    expect(one.logs).toContain('info cache: redis (distributed)');
    // One NOTIFY bridge leads, the other stands by.
    const bridges = await Promise.all([one.pdv.health(), two.pdv.health()]);
    expect(bridges.map((h) => h.modes.notifyBridge).sort()).toEqual(['leader', 'standby']);
  });

  it('share sessions: logged in on one, known on the other; logged out on one, gone on both', async () => {
    const cookie = await loginCookie(one.url, 'ana@sol.demo', 'demo-pdv');
    const me = await get(two, '/api/me', cookie);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe('ana@sol.demo');
    expect(
      (await fetch(`${two.url}/api/logout`, { method: 'POST', headers: { cookie } })).status,
    ).toBe(204);
    expect((await get(one, '/api/me', cookie)).status).toBe(401);
  });

  it('deliver an order taken on one to a kitchen screen on the other, exactly once', async () => {
    const cookie = await loginCookie(one.url, 'ana@sol.demo', 'demo-pdv');
    const other = await loginCookie(two.url, 'leo@lua.demo', 'demo-pdv');
    const screens: Screen[] = [
      await openScreen(two.url, cookie, 'sol'),
      await openScreen(one.url, cookie, 'sol'),
      await openScreen(two.url, other, 'lua'),
    ];
    const [remote, local, otherRestaurant] = screens as [Screen, Screen, Screen];
    try {
      const order = await createOrder(one, cookie, 'multi');
      await waitFor('the order on both instances', () =>
        [remote, local].every((s) => s.eventsOf(order.id).length >= 1),
      );
      // A fence through the same path: any duplicate of the first would arrive before it.
      const fence = await createOrder(one, cookie, 'fence');
      await waitFor('the fence', () => remote.eventsOf(fence.id).length === 1);
      expect(remote.eventsOf(order.id)).toHaveLength(1);
      expect(local.eventsOf(order.id)).toHaveLength(1);
      expect(remote.eventsOf(order.id)[0]).toMatchObject({
        eventType: 'order-created',
        payload: { id: order.id, restaurantId: 'sol', table: 'multi' },
      });
      expect(otherRestaurant.messages.filter((m) => m.type === 'event')).toEqual([]);
    } finally {
      for (const screen of screens) screen.close();
    }
  });

  it('deliver an order taken by a request in flight when its instance drains to the other', async () => {
    const leaving = await startPdv({
      databaseUrl: db.url,
      redisUrl: redis,
      prefix,
      instanceId: 'pdv-3',
    });
    await leaving.pdv.hub.ready(5_000);
    const cookie = await loginCookie(one.url, 'ana@sol.demo', 'demo-pdv');
    const kitchen = await openScreen(two.url, cookie, 'sol');
    try {
      const menu = (await (await get(leaving, '/api/menu', cookie)).json()) as {
        items: Array<{ id: number }>;
      };
      const body = JSON.stringify({
        table: 'D2',
        items: [{ menuItemId: menu.items[0]!.id, qty: 1 }],
      });
      const answer = await requestAcrossTheDrain(
        leaving,
        `POST /api/orders HTTP/1.1\r\nCookie: ${cookie}`,
        body,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 201 Created/);
      const order = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { id: number };
      await waitFor("the order on the other instance's kitchen", () =>
        kitchen.eventsOf(order.id).some((m) => m.eventType === 'order-created'),
      );
    } finally {
      kitchen.close();
      await leaving.close();
    }
  });

  it('share the cache: a miss on one, then a hit on the other', async () => {
    const cookie = await loginCookie(one.url, 'leo@lua.demo', 'demo-pdv');
    const first = await get(one, '/api/subscription/limits', cookie);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const computed = (await first.json()) as { computedBy: string };
    expect(computed.computedBy).toBe('pdv-1');
    const second = await get(two, '/api/subscription/limits', cookie);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(((await second.json()) as { computedBy: string }).computedBy).toBe('pdv-1');
  });

  it('share the login limit: failures on one count on the other', async () => {
    const attempt = (base: RunningPdv) =>
      fetch(`${base.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ana@sol.demo', password: 'guess' }),
      });
    expect((await attempt(one)).status).toBe(401);
    expect((await attempt(two)).status).toBe(401);
    expect((await attempt(one)).status).toBe(401);
    const blocked = await attempt(two);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('an instance whose Redis went away', () => {
  it('keeps limiting logins on its own, and says so', async () => {
    const server = await startRedis();
    const alone = await startPdv({
      databaseUrl: db.url,
      redisUrl: server.url,
      prefix: keyPrefix('pdv-multi-outage'),
      instanceId: 'pdv-outage',
      loginAttempts: 3,
    });
    try {
      await server.kill();
      const attempt = () =>
        fetch(`${alone.url}/api/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'ana@sol.demo', password: 'guess' }),
        });
      for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
      expect((await attempt()).status).toBe(429); // not a free-for-all while Redis is away
      expect(alone.logs).toContainEqual(
        expect.stringMatching(
          /^warn limits: redis unavailable .*rate limit "login" counts per instance/,
        ),
      );
      const metrics = await (await fetch(`${alone.url}/metrics`)).text();
      expect(metrics).toContain('bancada_limits_degraded{limiter="login"} 1');
      expect(metrics).toMatch(/bancada_limits_rejections_total\{limiter="login",reason="rate"\} 1/);
    } finally {
      await alone.close();
      await server.stop();
    }
  });
});

describe('two instances without Redis', () => {
  it('keep their own cache: a miss on both, and say they are single-instance', async () => {
    const [a, b] = await Promise.all([
      startPdv({ databaseUrl: db.url, instanceId: 'solo-1' }),
      startPdv({ databaseUrl: db.url, instanceId: 'solo-2' }),
    ]);
    try {
      const cookie = await loginCookie(a.url, 'ana@sol.demo', 'demo-pdv');
      expect((await get(a, '/api/subscription/limits', cookie)).headers.get('x-cache')).toBe(
        'MISS',
      );
      expect((await get(b, '/api/subscription/limits', cookie)).headers.get('x-cache')).toBe(
        'MISS',
      );
      expect(a.logs).toContain('info cache: memory (single instance only)');
      expect(a.logs).toContain('info realtime: local (single instance only)');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
