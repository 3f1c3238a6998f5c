import { createDatabase, faultProxy, type TestDatabase, waitFor } from '@bancada/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  loginCookie,
  type RunningPdv,
  requestAcrossTheDrain,
  startPdv,
} from './helpers/instances.js';
import { openScreen, type Screen, upgradeStatus } from './helpers/screens.js';

// Kitchen screens of one instance (no Redis): who receives which order change, through the
// app's own publishes and through the Postgres NOTIFY bridge; and what a screen sees when
// the instance drains or Postgres goes away.

let db: TestDatabase;
let pdv: RunningPdv;
let sol: string;
let lua: string;
const screens: Screen[] = [];

beforeAll(async () => {
  db = await createDatabase('pdv_realtime');
  // Sessions read again every second, so that a logout shows within a test's patience.
  pdv = await startPdv({ databaseUrl: db.url, instanceId: 'rt-1', sessionCheckMs: 1000 });
  sol = await loginCookie(pdv.url, 'ana@sol.demo', 'demo-pdv');
  lua = await loginCookie(pdv.url, 'leo@lua.demo', 'demo-pdv');
});

afterEach(() => {
  for (const screen of screens.splice(0)) screen.close();
});

afterAll(async () => {
  await pdv?.close();
  await db?.drop();
});

async function screen(cookie: string, restaurantId: string): Promise<Screen> {
  const opened = await openScreen(pdv.url, cookie, restaurantId);
  screens.push(opened);
  return opened;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked by each test
type Json = any;

async function api(
  path: string,
  cookie: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${pdv.url}${path}`, {
    method,
    headers: { cookie, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

async function createOrder(
  cookie: string,
  table = '9',
): Promise<{ id: number; restaurantId: string }> {
  const menu = await api('/api/menu', cookie);
  const created = await api('/api/orders', cookie, 'POST', {
    table,
    items: [{ menuItemId: menu.body.items[0].id, qty: 1 }],
  });
  expect(created.status).toBe(201);
  return created.body;
}

describe('kitchen screens', () => {
  it('get order-created and order-updated of their restaurant once each, and nothing else', async () => {
    const kitchen = await screen(sol, 'sol');
    const other = await screen(lua, 'lua');
    const order = await createOrder(sol);
    await api(`/api/orders/${order.id}`, sol, 'PATCH', { status: 'preparing' });
    await waitFor('both events on the kitchen', () => kitchen.eventsOf(order.id).length === 2);

    const events = kitchen.eventsOf(order.id);
    expect(events.map((e) => [e.eventType, e.payload?.status])).toEqual([
      ['order-created', 'new'],
      ['order-updated', 'preparing'],
    ]);
    expect(events[0]?.room).toBe('restaurant:sol');
    // The other restaurant's screen got nothing (the delivery above is synchronous per instance).
    await createOrder(lua); // and a fence: its own event arrives after anything of sol would
    await waitFor('the fence', () => other.messages.some((m) => m.type === 'event'));
    expect(other.messages.filter((m) => m.payload?.restaurantId === 'sol')).toEqual([]);
  });

  it('cannot join another restaurant, whatever it claims', async () => {
    await expect(openScreen(pdv.url, lua, 'sol')).rejects.toThrow('join refused: forbidden');
    expect(await upgradeStatus(pdv.url, { origin: pdv.url })).toBe(401);
    expect(await upgradeStatus(pdv.url, { origin: pdv.url, cookie: 'sid=s%3Aforged.c2ln' })).toBe(
      401,
    );
    expect(await upgradeStatus(pdv.url, { origin: 'https://evil.example', cookie: sol })).toBe(403);
  });

  it('closes a screen that sends garbage or oversized frames, and keeps the others', async () => {
    const kitchen = await screen(sol, 'sol');
    const noisy = await screen(sol, 'sol');
    noisy.socket.send('x'.repeat(70_000));
    expect((await noisy.closed).code).toBe(1009);
    const order = await createOrder(sol);
    await waitFor(
      'the healthy screen still gets events',
      () => kitchen.eventsOf(order.id).length === 1,
    );
  });

  it('streams the same events over SSE, authorized from the session', async () => {
    const controller = new AbortController();
    const response = await fetch(`${pdv.url}/events?restaurantId=sol`, {
      headers: { cookie: sol },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const order = await createOrder(sol);
    while (!text.includes(`"id":${order.id},"restaurantId":"sol"`)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(text).toContain('event: order-created');

    const forbidden = await fetch(`${pdv.url}/events?restaurantId=sol`, {
      headers: { cookie: lua },
    });
    expect(forbidden.status).toBe(403);
    await forbidden.body?.cancel();
    const anonymous = await fetch(`${pdv.url}/events?restaurantId=sol`);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
  });

  it('refuses a stream of an unknown restaurant, of another one named as a room, and of none', async () => {
    for (const [query, status] of [
      ['restaurantId=nowhere', 403],
      [`room=${encodeURIComponent('restaurant:lua')}`, 403],
      ['restaurantId=sol&restaurantId=lua', 403], // one forbidden room refuses the stream
      ['', 400],
    ] as const) {
      const response = await fetch(`${pdv.url}/events?${query}`, { headers: { cookie: sol } });
      expect(response.status, query).toBe(status);
      await response.body?.cancel();
    }
  });

  it('answers a WebSocket join of an unknown restaurant with forbidden, and sends it nothing', async () => {
    const kitchen = await openScreen(pdv.url, sol, 'sol');
    screens.push(kitchen);
    kitchen.socket.send(JSON.stringify({ type: 'auth', restaurantId: 'nowhere' }));
    await waitFor('the refusal', () =>
      kitchen.messages.some((m) => m.type === 'error' && m.code === 'forbidden'),
    );
    expect(kitchen.messages.filter((m) => m.type === 'joined')).toEqual([
      { type: 'joined', room: 'restaurant:sol' },
    ]);
  });
});

describe('a logout', () => {
  it('closes the screens of that session, over WebSocket and SSE, and no other', async () => {
    const leaving = await loginCookie(pdv.url, 'ana@sol.demo', 'demo-pdv');
    const kitchen = await screen(leaving, 'sol');
    const colleague = await screen(sol, 'sol'); // another session of the same restaurant
    const stream = await fetch(`${pdv.url}/events?restaurantId=sol`, {
      headers: { cookie: leaving },
    });
    expect(stream.status).toBe(200);

    const logout = await fetch(`${pdv.url}/api/logout`, {
      method: 'POST',
      headers: { cookie: leaving },
    });
    expect(logout.status).toBe(204);
    expect(await kitchen.closed).toEqual({ code: 4401, reason: 'session ended' });
    const rest = await stream.text(); // ends once the session is found gone
    expect(rest).toMatch(/retry: \d+/);
    // and it cannot come back with that cookie
    expect(await upgradeStatus(pdv.url, { cookie: leaving, origin: pdv.url })).toBe(401);

    const order = await createOrder(sol);
    await waitFor(
      'the other session still served',
      () => colleague.eventsOf(order.id).length === 1,
    );
  });
});

describe('the connection limit', () => {
  it('refuses a screen past PDV_MAX_CONNECTIONS_PER_IP with 429, and frees the slot on close', async () => {
    const small = await startPdv({
      databaseUrl: db.url,
      instanceId: 'rt-limit',
      maxConnectionsPerIp: 2,
    });
    try {
      const cookie = await loginCookie(small.url, 'ana@sol.demo', 'demo-pdv');
      const first = await openScreen(small.url, cookie, 'sol');
      const second = await openScreen(small.url, cookie, 'sol');
      expect(await upgradeStatus(small.url, { origin: small.url, cookie })).toBe(429);
      const sse = await fetch(`${small.url}/events?restaurantId=sol`, { headers: { cookie } });
      expect(sse.status).toBe(429);
      expect(sse.headers.get('retry-after')).toMatch(/^\d+$/);
      await sse.body?.cancel();
      first.close();
      await first.closed;
      await waitFor(
        'the slot back',
        async () => (await upgradeStatus(small.url, { origin: small.url, cookie })) === 101,
      );
      second.close();
    } finally {
      await small.close();
    }
  });
});

describe('the NOTIFY bridge', () => {
  it('publishes a change made outside the app once, and the app’s own changes are not doubled', async () => {
    const kitchen = await screen(sol, 'sol');
    const order = await createOrder(sol);
    // Another program (a printer service, psql) moves the order: only the trigger knows.
    const outside = new pg.Client({ connectionString: db.url });
    await outside.connect();
    try {
      await outside.query(
        "UPDATE orders SET status = 'preparing', updated_at = now() WHERE id = $1",
        [order.id],
      );
    } finally {
      await outside.end();
    }
    await waitFor('the bridged update', () => kitchen.eventsOf(order.id).length === 2, 10_000);
    const [created, bridged] = kitchen.eventsOf(order.id);
    expect(created?.eventType).toBe('order-created');
    expect(bridged).toMatchObject({
      eventType: 'order-updated',
      room: 'restaurant:sol',
      payload: { id: order.id, restaurantId: 'sol', status: 'preparing', table: '9' },
    });

    // A fence through the bridge again: anything the app's change had notified would be before it.
    await api(`/api/orders/${order.id}`, sol, 'PATCH', { status: 'ready' });
    const fence = new pg.Client({ connectionString: db.url });
    await fence.connect();
    await fence.query("UPDATE orders SET note = 'fence', updated_at = now() WHERE id = $1", [
      order.id,
    ]);
    await fence.end();
    await waitFor(
      'the fence',
      () =>
        kitchen
          .eventsOf(order.id)
          .some(
            (e) =>
              e.payload && 'note' in e.payload && (e.payload as { note?: string }).note === 'fence',
          ),
      10_000,
    );
    const statuses = kitchen.eventsOf(order.id).map((e) => e.payload?.status);
    expect(statuses).toEqual(['new', 'preparing', 'ready', 'ready']);
  });
});

describe('when Postgres goes away', () => {
  it('answers 503 with a clear error, says so in /health, and recovers by itself', async () => {
    const proxy = await faultProxy(db.url);
    const behind = await startPdv({ databaseUrl: proxy.url(db.url), instanceId: 'rt-pg' });
    try {
      const cookie = await loginCookie(behind.url, 'ana@sol.demo', 'demo-pdv');
      proxy.cut();
      const health = await fetch(`${behind.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'unavailable', postgres: 'down' });
      const orders = await fetch(`${behind.url}/api/orders`, { headers: { cookie } });
      // The session store answers first here (it needs the same database): a 503 all the same.
      expect(orders.status).toBe(503);
      expect(((await orders.json()) as { error: string }).error).toMatch(/unavailable/);

      proxy.restore();
      await waitFor(
        'orders again',
        async () =>
          (await fetch(`${behind.url}/api/orders`, { headers: { cookie } })).status === 200,
        15_000,
      );
      expect((await fetch(`${behind.url}/health`)).status).toBe(200);
    } finally {
      await behind.close();
      await proxy.close();
    }
  });
});

describe('draining (SIGTERM)', () => {
  it('tells screens when to come back, turns /health to 503, then refuses connections', async () => {
    const own = await startPdv({ databaseUrl: db.url, instanceId: 'rt-drain' });
    const cookie = await loginCookie(own.url, 'ana@sol.demo', 'demo-pdv');
    const kitchen = await openScreen(own.url, cookie, 'sol');
    const closing = own.close();
    const { code, reason } = await kitchen.closed;
    expect(code).toBe(1012);
    expect(JSON.parse(reason).retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect((await own.pdv.health()).status).toBe('draining');
    await closing;
    await expect(fetch(`${own.url}/health`)).rejects.toThrow();
  });

  it('finishes a request that was in flight when the drain began', async () => {
    const own = await startPdv({ databaseUrl: db.url, instanceId: 'rt-inflight' });
    const body = JSON.stringify({ email: 'ana@sol.demo', password: 'demo-pdv' });
    const answer = await requestAcrossTheDrain(own, 'POST /api/login HTTP/1.1', body);
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(answer).toContain('"restaurant":{"id":"sol"');
  });

  it('answers 201 for an order taken during the drain, and keeps it', async () => {
    const own = await startPdv({ databaseUrl: db.url, instanceId: 'rt-inflight-order' });
    const cookie = await loginCookie(own.url, 'ana@sol.demo', 'demo-pdv');
    const menu: Json = await (await fetch(`${own.url}/api/menu`, { headers: { cookie } })).json();
    const note = `taken during the drain ${Date.now()}`;
    const body = JSON.stringify({
      table: 'D1',
      note,
      items: [{ menuItemId: menu.items[0].id, qty: 1 }],
    });
    const answer = await requestAcrossTheDrain(
      own,
      `POST /api/orders HTTP/1.1\r\nCookie: ${cookie}`,
      body,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 201 Created/);
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const saved = await check.query('SELECT count(*)::int AS n FROM orders WHERE note = $1', [
        note,
      ]);
      expect(saved.rows[0].n).toBe(1);
    } finally {
      await check.end();
    }
  });
});
