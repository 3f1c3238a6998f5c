import { createDatabase, type TestDatabase } from '@bancada/testkit';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPdv, startPdv } from './helpers/instances.js';

// Every route of the app over HTTP, on a real Postgres database of this file and no Redis.

const PASSWORD = 'demo-pdv';
let db: TestDatabase;
let pdv: RunningPdv;

beforeAll(async () => {
  db = await createDatabase('pdv_http');
  pdv = await startPdv({ databaseUrl: db.url, instanceId: 'http-1' });
});

afterAll(async () => {
  await pdv?.close();
  await db?.drop();
});

/** A supertest agent (it keeps cookies) logged in as `email`. */
async function loggedIn(email: string) {
  const agent = request.agent(pdv.url);
  await agent.post('/api/login').send({ email, password: PASSWORD }).expect(200);
  return agent;
}

async function menuIds(agent: Awaited<ReturnType<typeof loggedIn>>): Promise<number[]> {
  const menu = await agent.get('/api/menu').expect(200);
  return menu.body.items.map((item: { id: number }) => item.id);
}

describe('login, me, logout', () => {
  it('logs in with a seeded user and sets an httpOnly session cookie', async () => {
    const response = await request(pdv.url)
      .post('/api/login')
      .send({ email: 'ANA@sol.demo ', password: PASSWORD })
      .expect(200);
    expect(response.body).toEqual({
      user: { id: expect.any(Number), name: 'Ana', email: 'ana@sol.demo' },
      restaurant: { id: 'sol', name: 'Cantina do Sol' },
    });
    const cookies = response.headers['set-cookie'] as unknown as string[];
    const cookie = cookies.find((c) => c.startsWith('sid='))!;
    expect(cookie).toMatch(/^sid=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(JSON.stringify(response.body)).not.toMatch(/scrypt|password/);
  });

  it('answers a wrong password and an unknown email alike, with 401', async () => {
    const wrong = await request(pdv.url)
      .post('/api/login')
      .send({ email: 'ana@sol.demo', password: 'nope' })
      .expect(401);
    const unknown = await request(pdv.url)
      .post('/api/login')
      .send({ email: 'nobody@sol.demo', password: 'nope' })
      .expect(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error).toBe('invalid_credentials');
    expect(wrong.headers['set-cookie']).toBeUndefined();
  });

  it('rejects missing fields, a bad email and malformed JSON with 400', async () => {
    const missing = await request(pdv.url).post('/api/login').send({ email: 'ana@sol.demo' });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: 'invalid_request' });
    expect(missing.body.message).toMatch(/password/);
    await request(pdv.url)
      .post('/api/login')
      .send({ email: 'not-an-email', password: 'x' })
      .expect(400);
    const malformed = await request(pdv.url)
      .post('/api/login')
      .set('content-type', 'application/json')
      .send('{"email": ')
      .expect(400);
    expect(malformed.body.error).toBe('invalid_request');
    // A form post (as a cross-site form would send) is not parsed: nothing to log in with.
    await request(pdv.url)
      .post('/api/login')
      .type('form')
      .send({ email: 'ana@sol.demo', password: PASSWORD })
      .expect(400);
  });

  it('knows the user from the cookie, and forgets it everywhere after logout', async () => {
    const agent = await loggedIn('leo@lua.demo');
    const me = await agent.get('/api/me').expect(200);
    expect(me.body.restaurant).toEqual({ id: 'lua', name: 'Bistrô da Lua' });
    const cookie = (
      await request(pdv.url).post('/api/login').send({
        email: 'leo@lua.demo',
        password: PASSWORD,
      })
    ).headers['set-cookie'] as unknown as string[];
    const sid = cookie.find((c) => c.startsWith('sid='))!.split(';')[0]!;
    await request(pdv.url).get('/api/me').set('Cookie', sid).expect(200);
    await request(pdv.url).post('/api/logout').set('Cookie', sid).expect(204);
    // The same cookie, replayed after logout: the session is gone from the store.
    await request(pdv.url).get('/api/me').set('Cookie', sid).expect(401);
    await agent.get('/api/me').expect(200); // another session of the same user is untouched
  });

  it('sets a routing cookie for the balancer, clears it at logout, and never lets it pick the restaurant', async () => {
    const response = await request(pdv.url)
      .post('/api/login')
      .send({ email: 'ana@sol.demo', password: PASSWORD })
      .expect(200);
    const cookies = response.headers['set-cookie'] as unknown as string[];
    expect(cookies).toContainEqual(
      expect.stringMatching(/^pdv_restaurant=sol; Path=\/; HttpOnly; SameSite=Lax$/),
    );
    const sid = cookies.find((c) => c.startsWith('sid='))!.split(';')[0]!;
    // Edited to name another restaurant: the session still decides.
    const forged = `${sid}; pdv_restaurant=lua`;
    const me = await request(pdv.url).get('/api/me').set('Cookie', forged).expect(200);
    expect(me.body.restaurant.id).toBe('sol');
    const menu = await request(pdv.url).get('/api/menu').set('Cookie', forged).expect(200);
    const ownMenu = await request(pdv.url).get('/api/menu').set('Cookie', sid).expect(200);
    expect(menu.body).toEqual(ownMenu.body);
    const out = await request(pdv.url).post('/api/logout').set('Cookie', forged).expect(204);
    expect(out.headers['set-cookie']).toContainEqual(
      expect.stringMatching(/^pdv_restaurant=; Path=\/; Expires=Thu, 01 Jan 1970/),
    );
  });

  it('treats a forged cookie as anonymous', async () => {
    const response = await request(pdv.url)
      .get('/api/me')
      .set('Cookie', 'sid=s%3Aforged.c2lnbmF0dXJl')
      .expect(401);
    expect(response.body.error).toBe('unauthenticated');
  });
});

describe('requests from another site (CSRF)', () => {
  const EVIL = 'https://evil.example';

  it('refuses an order posted from another site with 403, and creates nothing', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const [item] = await menuIds(sol);
    const before = (await sol.get('/api/orders')).body.orders.length;
    const order = { table: '1', items: [{ menuItemId: item, qty: 1 }], note: 'csrf' };
    const refused = await sol.post('/api/orders').set('Origin', EVIL).send(order);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'cross-origin-refused' });
    // A browser that sends no Origin still says where the request came from.
    await sol.post('/api/orders').set('Sec-Fetch-Site', 'cross-site').send(order).expect(403);
    expect((await sol.get('/api/orders')).body.orders.length).toBe(before);
    // The app's own pages, and clients that are not browsers, go on as before.
    await sol.post('/api/orders').set('Origin', pdv.url).send(order).expect(201);
    await sol.post('/api/orders').set('Sec-Fetch-Site', 'same-origin').send(order).expect(201);
    await sol.post('/api/orders').send(order).expect(201);
  });

  it('does not log out on a text/plain POST from another site', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const refused = await sol
      .post('/api/logout')
      .set('Origin', EVIL)
      .set('Content-Type', 'text/plain')
      .send('x');
    expect(refused.status).toBe(403);
    await sol.get('/api/me').expect(200);
  });

  it('refuses a login posted from another site', async () => {
    await request(pdv.url)
      .post('/api/login')
      .set('Origin', EVIL)
      .send({ email: 'ana@sol.demo', password: PASSWORD })
      .expect(403);
  });
});

describe('menu and orders', () => {
  it('shows each restaurant its own menu only', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const lua = await loggedIn('leo@lua.demo');
    const solIds = await menuIds(sol);
    const luaIds = await menuIds(lua);
    expect(solIds.length).toBeGreaterThan(0);
    expect(solIds.filter((id) => luaIds.includes(id))).toEqual([]);
  });

  it('creates an order priced from the menu, whatever the client claims', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const menu = (await sol.get('/api/menu')).body.items as Array<{
      id: number;
      priceCents: number;
    }>;
    const [first, second] = menu as [(typeof menu)[0], (typeof menu)[0]];
    const response = await sol
      .post('/api/orders')
      .send({
        table: ' 7 ',
        items: [
          { menuItemId: first.id, qty: 2, priceCents: 1 },
          { menuItemId: second.id, qty: 1 },
        ],
        note: 'no onions',
        restaurantId: 'lua', // a forged tenant: ignored, the session decides
        totalCents: 1,
      })
      .expect(201);
    expect(response.body).toMatchObject({
      restaurantId: 'sol',
      table: '7',
      status: 'new',
      note: 'no onions',
      totalCents: first.priceCents * 2 + second.priceCents,
    });
    expect(response.body.items[0]).toMatchObject({
      menuItemId: first.id,
      qty: 2,
      priceCents: first.priceCents,
    });
    expect(response.headers.location).toBe(`/api/orders/${response.body.id}`);
    const fetched = await sol.get(`/api/orders/${response.body.id}`).expect(200);
    expect(fetched.body).toEqual(response.body);
  });

  it('rejects bad orders with 400 and creates nothing', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const lua = await loggedIn('leo@lua.demo');
    const [mine] = await menuIds(sol);
    const [theirs] = await menuIds(lua);
    const before = (await sol.get('/api/orders')).body.orders.length;
    const bad: Array<[unknown, RegExp]> = [
      [{ items: [{ menuItemId: mine, qty: 1 }] }, /table/],
      [{ table: '1', items: [] }, /items/],
      [{ table: '1' }, /items/],
      [{ table: '1', items: [{ menuItemId: mine, qty: 0 }] }, /qty/],
      [{ table: '1', items: [{ menuItemId: mine, qty: 51 }] }, /qty/],
      [{ table: '1', items: [{ menuItemId: mine, qty: 1.5 }] }, /qty/],
      [{ table: '1', items: [{ menuItemId: '1; DROP TABLE orders', qty: 1 }] }, /menuItemId/],
      [{ table: 'x'.repeat(21), items: [{ menuItemId: mine, qty: 1 }] }, /table/],
      [{ table: '1', items: [{ menuItemId: mine, qty: 1 }], note: 'n'.repeat(201) }, /note/],
      [{ table: '1', items: [{ menuItemId: 999_999, qty: 1 }] }, /999999 is not on the menu/],
      // Another restaurant's menu item is not on this restaurant's menu.
      [{ table: '1', items: [{ menuItemId: theirs, qty: 1 }] }, /is not on the menu/],
    ];
    for (const [body, message] of bad) {
      const response = await sol.post('/api/orders').send(body as object);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.message).toMatch(message);
    }
    expect((await sol.get('/api/orders')).body.orders.length).toBe(before);
  });

  it('answers a NUL character in any text field with 400, logs no error, and creates nothing', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const [mine] = await menuIds(sol);
    const before = (await sol.get('/api/orders')).body.orders.length;
    const items = [{ menuItemId: mine, qty: 1 }];
    const orders: Array<[unknown, RegExp]> = [
      [{ table: '1', items, note: 'no\u0000onions' }, /note: .*NUL/],
      [{ table: '1\u0000', items }, /table: .*NUL/],
    ];
    for (const [body, message] of orders) {
      const response = await sol.post('/api/orders').send(body as object);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body).toMatchObject({ error: 'invalid_request' });
      expect(response.body.message).toMatch(message);
    }
    const logins: Array<[unknown, RegExp]> = [
      [{ email: 'ana@sol.demo\u0000', password: PASSWORD }, /email/],
      [{ email: 'ana@sol.demo', password: `${PASSWORD}\u0000` }, /password: .*NUL/],
    ];
    for (const [body, message] of logins) {
      const response = await request(pdv.url)
        .post('/api/login')
        .send(body as object);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.message).toMatch(message);
    }
    // (HTTP itself keeps NUL out of headers; the key is checked all the same.)
    const key = await sol
      .post('/api/orders')
      .set('Idempotency-Key', 'not a key')
      .send({ table: '1', items });
    expect(key.status).toBe(400);
    expect(key.body.message).toMatch(/Idempotency-Key/);
    expect((await sol.get('/api/orders')).body.orders.length).toBe(before);
    expect(pdv.logs.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  it('answers a body over 16 KB with 413', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const response = await sol.post('/api/orders').send({ table: '1', note: 'x'.repeat(20_000) });
    expect(response.status).toBe(413);
  });

  it('never shows or changes another restaurant’s order: 404, nothing leaked', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const lua = await loggedIn('leo@lua.demo');
    const [item] = await menuIds(sol);
    const order = (
      await sol.post('/api/orders').send({ table: 'secret', items: [{ menuItemId: item, qty: 1 }] })
    ).body;

    const read = await lua.get(`/api/orders/${order.id}`).expect(404);
    expect(read.body).toEqual({ error: 'not_found', message: 'order not found' });
    const change = await lua.patch(`/api/orders/${order.id}`).send({ status: 'preparing' });
    expect(change.status).toBe(404);
    expect(JSON.stringify(change.body)).not.toContain('secret');
    const list = await lua.get('/api/orders?status=new,preparing,ready,delivered').expect(200);
    expect(list.body.orders.every((o: { restaurantId: string }) => o.restaurantId === 'lua')).toBe(
      true,
    );
    expect((await sol.get(`/api/orders/${order.id}`)).body.status).toBe('new');
  });

  it('moves an order forward only, one step at a time', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const [item] = await menuIds(sol);
    const { id } = (
      await sol.post('/api/orders').send({ table: '3', items: [{ menuItemId: item, qty: 1 }] })
    ).body;

    const skip = await sol.patch(`/api/orders/${id}`).send({ status: 'ready' }).expect(409);
    expect(skip.body).toEqual({
      error: 'invalid_transition',
      message: `order ${id} is new; it can only move to preparing`,
    });
    for (const status of ['preparing', 'ready', 'delivered']) {
      const step = await sol.patch(`/api/orders/${id}`).send({ status }).expect(200);
      expect(step.body.status).toBe(status);
    }
    await sol.patch(`/api/orders/${id}`).send({ status: 'new' }).expect(409);
    await sol.patch(`/api/orders/${id}`).send({ status: 'cooking' }).expect(400);
    await sol.patch(`/api/orders/${id}`).send({}).expect(400);

    const open = (await sol.get('/api/orders').expect(200)).body.orders as Array<{ id: number }>;
    expect(open.map((o) => o.id)).not.toContain(id);
    const delivered = (await sol.get('/api/orders?status=delivered').expect(200)).body.orders;
    expect(delivered.map((o: { id: number }) => o.id)).toContain(id);
    await sol.get('/api/orders?status=lost').expect(400);
  });

  it('answers an order id that is not one with 404', async () => {
    const sol = await loggedIn('ana@sol.demo');
    for (const id of ['abc', '0', '-1', '1e3', '99999999999999999999', '999999']) {
      const response = await sol.get(`/api/orders/${id}`);
      expect(response.status, id).toBe(404);
    }
  });

  it('requires a session for every API route', async () => {
    for (const [method, path] of [
      ['get', '/api/me'],
      ['get', '/api/menu'],
      ['get', '/api/orders'],
      ['get', '/api/orders/1'],
      ['post', '/api/orders'],
      ['patch', '/api/orders/1'],
      ['get', '/api/subscription/limits'],
    ] as const) {
      const response = await request(pdv.url)[method](path).send({});
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.body.error).toBe('unauthenticated');
    }
    const unknown = await request(pdv.url).get('/api/nothing-here').expect(404);
    expect(unknown.body.error).toBe('not_found');
  });
});

describe('subscription limits (cached)', () => {
  it('computes once, then serves from the cache, per restaurant', async () => {
    const sol = await loggedIn('ana@sol.demo');
    const lua = await loggedIn('leo@lua.demo');
    const first = await sol.get('/api/subscription/limits').expect(200);
    const second = await sol.get('/api/subscription/limits').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    expect(first.body).toMatchObject({ restaurantId: 'sol', plan: 'pro', maxOpenOrders: 500 });
    const theirs = await lua.get('/api/subscription/limits').expect(200);
    expect(theirs.headers['x-cache']).toBe('MISS');
    expect(theirs.body).toMatchObject({ restaurantId: 'lua', plan: 'starter' });
  });
});

describe('pages', () => {
  it('sends visitors to the login page and users to their screens', async () => {
    const toLogin = await request(pdv.url).get('/kitchen').expect(303);
    expect(toLogin.headers.location).toBe('/login?next=%2Fkitchen');
    const withQuery = await request(pdv.url).get('/kitchen?transport=sse').expect(303);
    expect(withQuery.headers.location).toBe('/login?next=%2Fkitchen%3Ftransport%3Dsse');
    expect((await request(pdv.url).get('/').expect(303)).headers.location).toBe('/login');
    const login = await request(pdv.url).get('/login').expect(200);
    expect(login.headers['content-type']).toMatch(/text\/html/);
    expect(login.headers['content-security-policy']).toContain("default-src 'self'");

    const sol = await loggedIn('ana@sol.demo');
    expect((await sol.get('/').expect(303)).headers.location).toBe('/cashier');
    for (const path of ['/cashier', '/kitchen']) {
      const page = await sol.get(path).expect(200);
      expect(page.text).toMatch(/<html/i);
    }
  });

  it('serves the realtime client SDK as an ES module', async () => {
    const sdk = await request(pdv.url).get('/assets/realtime-client.js').expect(200);
    expect(sdk.headers['content-type']).toMatch(/javascript/);
    expect(sdk.text).toMatch(/export\s*\{[^}]*connect/);
    await request(pdv.url).get('/assets/../src/config.ts').expect(404);
  });
});

describe('health and metrics', () => {
  it('reports the instance, its parts and its modes', async () => {
    const health = await request(pdv.url).get('/health').expect(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      instance: 'http-1',
      degraded: false,
      postgres: 'up',
      redis: 'not configured',
      modes: {
        database: 'postgres',
        session: 'postgres',
        cache: 'memory',
        realtime: 'local',
        fanout: 'on',
        notifyBridge: 'leader',
      },
    });
    expect(health.headers['cache-control']).toBe('no-store');
    expect(health.headers['set-cookie']).toBeUndefined();
  });

  it('exposes every bancada_* metric family and the app’s own', async () => {
    const sol = await loggedIn('ana@sol.demo');
    await sol.get('/api/subscription/limits');
    const metrics = await request(pdv.url).get('/metrics').expect(200);
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    for (const family of [
      'bancada_cache_',
      'bancada_session_',
      'bancada_realtime_',
      'bancada_limits_',
      'bancada_realtime_bridge_',
      'pdv_order_events_total',
      'process_cpu_user_seconds_total',
    ]) {
      expect(metrics.text, family).toContain(family);
    }
    // Only that path: a balancer rule on /metrics cannot be walked round.
    for (const path of ['/metrics/', '/METRICS', '/Metrics']) {
      expect((await request(pdv.url).get(path)).status, path).toBe(404);
    }
  });
});
