import { type IncomingMessage, request } from 'node:http';
import { createDatabase, startRedis, type TestDatabase } from '@bancada/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  type Cluster,
  findNginx,
  freePort,
  redisAnswers,
  startCluster,
  startPrivateRedisCluster,
} from '../scripts/cluster.mjs';
import { loadConfig } from '../src/config.js';
import { describeRedisUrl, openRedisClient } from '../src/redis-client.js';
import { loginCookie } from './helpers/instances.js';

// The whole deployment of `npm run cluster`: nginx (the generated config) in front of three
// `node dist/server.js` processes on a private Redis and a private database. nginx must be
// installed: without it startCluster throws "apt-get install nginx" and every test fails.

interface Health {
  status: string;
  instance: string;
  redis: string;
  postgres: string;
  modes: { database: string; realtime: string; fanout: string };
}

interface OrderEvent {
  type: string;
  eventType?: string;
  room?: string;
  code?: string;
  ts?: number;
  payload?: { id: number; restaurantId: string };
}

/** A GET from a chosen local address (all of 127.0.0.0/8 is this machine on Linux). */
function getFrom(
  url: string,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A client address that nginx's ip_hash sends to `instanceId`. ip_hash keys on the first three
 * octets, so the candidates differ in the third: 127.0.<n>.1.
 */
async function addressServedBy(url: string, instanceId: string): Promise<string> {
  for (let n = 1; n <= 200; n++) {
    const address = `127.0.${n}.1`;
    const { body } = await getFrom(`${url}/health`, address);
    if ((JSON.parse(body) as Health).instance === instanceId) return address;
  }
  throw new Error(`no address in 127.0.1-200.1 is sent to ${instanceId}`);
}

interface Screen {
  messages: OrderEvent[];
  eventsOf(orderId: number): OrderEvent[];
  socket: WebSocket;
}

/**
 * A kitchen screen as a browser opens it: WebSocket through nginx with the session cookie and
 * an Origin header, from `localAddress`, joined to its restaurant with the `auth` message.
 */
function openScreen(url: string, cookie: string, localAddress: string): Promise<Screen> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, {
    headers: { cookie, origin: url },
    localAddress,
  });
  const messages: OrderEvent[] = [];
  return new Promise((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as OrderEvent;
      messages.push(message);
      if (message.type === 'joined') {
        resolve({
          messages,
          socket,
          eventsOf: (id) => messages.filter((m) => m.type === 'event' && m.payload?.id === id),
        });
      }
      if (message.type === 'error') reject(new Error(`join refused: ${message.code}`));
    });
    socket.on('error', reject);
    socket.on('unexpected-response', (_req, res: IncomingMessage) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
    socket.on('open', () => socket.send(JSON.stringify({ type: 'auth', restaurantId: 'sol' })));
  });
}

/**
 * The HTTP status a WebSocket upgrade of `path` from `localAddress` gets (101 when accepted);
 * rejects if no answer comes within 5 s.
 */
function upgradeStatus(
  url: string,
  cookie: string,
  localAddress: string,
  path = '/ws',
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, {
      headers: { cookie },
      localAddress,
      handshakeTimeout: 5000,
    });
    socket.on('unexpected-response', (_req, res: IncomingMessage) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('open', () => {
      resolve(101);
      socket.close();
    });
    socket.on('error', reject);
  });
}

interface SseStream {
  events: Array<{ event: OrderEvent }>;
  close(): void;
}

/** An EventSource-like reader of /events through nginx; resolves once the stream is open. */
function openSse(url: string, cookie: string): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/events?restaurantId=sol`, {
      headers: { cookie, accept: 'text/event-stream' },
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE answered ${res.statusCode}`));
        return;
      }
      const events: SseStream['events'] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .find((line) => line.startsWith('data: '));
          if (data) events.push({ event: JSON.parse(data.slice(6)) });
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      });
      resolve({ events, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Runs `npm run cluster`'s setup for the tests of the calling describe block, on a private
 * Redis and a database of its own, and stops it afterwards. Returns a getter of the cluster.
 */
function useCluster(
  databaseName: string,
  { redisCluster = false, ...options }: { byRestaurant?: boolean; redisCluster?: boolean } = {},
) {
  let redis: { url: string; stop(): Promise<void> } | undefined;
  let database: TestDatabase | undefined;
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    redis = redisCluster ? await startPrivateRedisCluster({ log: () => {} }) : await startRedis();
    database = await createDatabase(databaseName);
    // Four different ports (the OS may hand the same free port out twice in a row).
    const ports = new Set<number>();
    while (ports.size < 4) ports.add(await freePort());
    const [port, ...instancePorts] = ports;
    cluster = await startCluster({
      port,
      instancePorts,
      redisUrl: redis.url,
      databaseUrl: database.url,
      installNginx: false, // never apt-get from a test: fail and say how instead
      ...options,
      // The instances' lines are noise here (startCluster's errors quote their last lines);
      // nginx writes only warnings and errors, which say why a request through it failed.
      log: (name, line) => {
        if (name === 'nginx') console.error(`[nginx] ${line}`);
      },
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
    await database?.drop();
  }, 60_000);
  return () => {
    if (!cluster) throw new Error('the cluster did not start (beforeAll failed)');
    return cluster;
  };
}

/** An order of two of the first menu item, taken through `url` with the session `cookie`. */
async function orderThrough(url: string, cookie: string, table: string) {
  const menu = (await (await fetch(`${url}/api/menu`, { headers: { cookie } })).json()) as {
    items: Array<{ id: number }>;
  };
  const response = await fetch(`${url}/api/orders`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ table, items: [{ menuItemId: menu.items[0]?.id, qty: 2 }] }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: number; restaurantId: string; totalCents: number };
}

/** pdv-1 to pdv-3, each asked directly: healthy, on the shared Redis and Postgres. */
async function expectThreeHealthyInstances(cluster: Cluster): Promise<void> {
  expect(cluster.instances.map((i) => i.id)).toEqual(['pdv-1', 'pdv-2', 'pdv-3']);
  for (const instance of cluster.instances) {
    const response = await fetch(`${instance.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      instance: instance.id,
      redis: 'up',
      postgres: 'up',
      modes: { database: 'postgres', realtime: 'redis', fanout: 'on' },
    });
  }
}

/**
 * One screen per instance, as a browser connects (Origin header): an order created through
 * nginx (on whichever instance serves 127.0.0.1, so at least two screens get it through Redis)
 * reaches each exactly once.
 */
async function expectOrderOnceOnEveryInstance(cluster: Cluster, cookie: string): Promise<void> {
  const url = cluster.url;
  const screens: Screen[] = [];
  for (const instance of cluster.instances) {
    const address = await addressServedBy(url, instance.id);
    screens.push(await openScreen(url, cookie, address));
  }
  try {
    expect(screens.map((s) => s.messages[0])).toEqual(
      screens.map(() => ({ type: 'joined', room: 'restaurant:sol' })),
    );
    const order = await orderThrough(url, cookie, '7');
    expect(order.restaurantId).toBe('sol');
    await waitFor('every screen to get the order', () =>
      screens.every((s) => s.eventsOf(order.id).length > 0),
    );
    // Events of a room arrive in order: once a later order is there, a duplicate of the first
    // would have arrived before it.
    const fence = await orderThrough(url, cookie, '8');
    await waitFor('every screen to get the second order', () =>
      screens.every((s) => s.eventsOf(fence.id).length > 0),
    );
    for (const screen of screens) {
      expect(screen.eventsOf(order.id)).toHaveLength(1);
      expect(screen.eventsOf(order.id)[0]).toMatchObject({
        type: 'event',
        eventType: 'order-created',
        room: 'restaurant:sol',
        payload: { id: order.id, restaurantId: 'sol', totalCents: order.totalCents },
      });
    }
  } finally {
    for (const screen of screens) screen.socket.close();
  }
}

describe('pdv-app cluster (npm run cluster): three instances behind nginx', () => {
  const running = useCluster('cluster');
  let cluster: Cluster | undefined;
  let url: string;
  let cookie: string;

  beforeAll(async () => {
    cluster = running();
    url = cluster.url;
    cookie = await loginCookie(url, 'ana@sol.demo', 'demo-pdv');
  }, 120_000);

  const createOrder = (table: string) => orderThrough(url, cookie, table);

  it('answers /health through nginx from one of its instances', async () => {
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('server')).toMatch(/^nginx/);
    const health = (await response.json()) as Health;
    expect(health.status).toBe('ok');
    expect(cluster?.instances.map((i) => i.id)).toContain(health.instance);
    // /metrics passes for local clients (the config keeps it from everyone else).
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('bancada_realtime_connections');
  });

  it('runs three healthy instances on the shared Redis and Postgres (asked directly)', () =>
    expectThreeHealthyInstances(running()));

  it('delivers an order created through nginx exactly once to a screen on every instance', () =>
    expectOrderOnceOnEveryInstance(running(), cookie));

  it('streams the order over SSE through nginx at once, not when a buffer fills', async () => {
    // The hub also sends X-Accel-Buffering: no, which alone would unbuffer this response; the
    // config must not depend on it (another SSE endpoint, or a proxy that ignores it).
    const events = /location = \/events \{[^}]*\}/.exec(cluster?.nginx.config ?? '')?.[0];
    expect(events).toContain('proxy_buffering off;');
    const stream = await openSse(url, cookie);
    try {
      const order = await createOrder('9');
      // A buffering proxy would hold this small event until its 4-8 KB buffer filled: the
      // stream stays open, so it would never come.
      await waitFor('the SSE event', () =>
        stream.events.some(({ event }) => event.payload?.id === order.id),
      );
      const got = stream.events.find(({ event }) => event.payload?.id === order.id);
      expect(got?.event).toMatchObject({ type: 'event', eventType: 'order-created' });
    } finally {
      stream.close();
    }
  });

  it('counts WebSocket connections per client address behind nginx, not per balancer', async () => {
    // The instances' limit is 50 per client IP. Were X-Forwarded-For lost on /ws, every client
    // would count as nginx's 127.0.0.1, and the 51st screen of the whole site would be refused.
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const screen = await openScreen(url, cookie, '127.0.250.1');
        open.push(screen.socket);
      }
      expect(await upgradeStatus(url, cookie, '127.0.250.1')).toBe(429);
      expect(await upgradeStatus(url, cookie, '127.0.251.1')).toBe(101);
    } finally {
      for (const socket of open) socket.close();
    }
  });

  it('passes WebSocket upgrades to the app for /ws alone, with its query string', async () => {
    expect(await upgradeStatus(url, cookie, '127.0.252.1', '/ws?restaurantId=sol')).toBe(101);
    // nginx merges the slashes and takes this for /ws: so must the app.
    expect(await upgradeStatus(url, cookie, '127.0.252.1', '//ws')).toBe(101);
    // Other paths reach the app as plain requests, without Upgrade: answered as a GET is. Were
    // Upgrade passed on, the app would leave them unanswered and the handshake would time out.
    for (const path of ['/ws/', '/wsx', '/ws-anything']) {
      const plain = (await fetch(`${url}${path}`, { headers: { cookie } })).status;
      expect(await upgradeStatus(url, cookie, '127.0.252.1', path), path).toBe(plain);
    }
  });
});

describe('pdv-app cluster (npm run cluster -- --by-restaurant): nginx hashing by restaurant', () => {
  // Its own three instances, behind nginx on the config's commented alternative to ip_hash.
  const running = useCluster('cluster_by_restaurant', { byRestaurant: true });

  it('sends every request of a restaurant, from any address, to one instance', async () => {
    const cluster = running();
    const url = cluster.url;
    expect(cluster.nginx.config).toMatch(/^\s+hash \$cookie_pdv_restaurant consistent;$/m);
    expect(cluster.nginx.config).not.toMatch(/^\s+ip_hash;$/m);
    const served = async (cookie: string) => {
      const instances = new Set<string>();
      for (let n = 1; n <= 24; n++) {
        const { body } = await getFrom(`${url}/health`, `127.0.${n}.1`, { cookie });
        instances.add((JSON.parse(body) as Health).instance);
      }
      return instances;
    };
    for (const email of ['ana@sol.demo', 'leo@lua.demo']) {
      const cookie = await loginCookie(url, email, 'demo-pdv');
      expect(cookie).toMatch(/pdv_restaurant=(sol|lua)/);
      expect([...(await served(cookie))], email).toHaveLength(1);
    }
    // Without the cookie, those addresses are spread (24 on one of three would be a fluke).
    expect((await served('')).size).toBeGreaterThan(1);
  });
});

describe('cluster setup without nginx', () => {
  it('fails saying apt-get install nginx, and installs nothing', () => {
    const saved = process.env.NGINX_BIN;
    process.env.NGINX_BIN = '/nonexistent/nginx';
    try {
      expect(() => findNginx({ install: true })).toThrow(/apt-get install nginx/);
    } finally {
      if (saved === undefined) delete process.env.NGINX_BIN;
      else process.env.NGINX_BIN = saved;
    }
  });
});

describe('pdv-app cluster (npm run cluster -- --redis-cluster): on a Redis Cluster', () => {
  const running = useCluster('cluster_on_redis_cluster', { redisCluster: true });
  let cookie: string;

  beforeAll(async () => {
    cookie = await loginCookie(running().url, 'ana@sol.demo', 'demo-pdv');
  }, 120_000);

  it('runs three healthy instances with everything on the Redis Cluster', () =>
    expectThreeHealthyInstances(running()));

  it('delivers an order exactly once to a screen on every instance, across the masters', () =>
    expectOrderOnceOnEveryInstance(running(), cookie));
});

describe('npm run cluster -- --redis-cluster: the Redis Cluster of its own', () => {
  it('serves every slot from 3 masters with a replica each, reached through REDIS_URL, and is gone after stop()', async () => {
    const redis = await startPrivateRedisCluster({ log: () => {} });
    let client: ReturnType<typeof openRedisClient> | undefined;
    try {
      expect(redis.url).toMatch(/^redis-cluster:\/\/(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/);
      expect(loadConfig({ REDIS_URL: redis.url }).redisUrl).toBe(redis.url);
      expect(describeRedisUrl(redis.url)).toBe('redis cluster');
      expect(describeRedisUrl('redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster')).toBe(
        'redis sentinel mymaster',
      );
      expect(describeRedisUrl('redis://127.0.0.1:6379')).toBe('redis');
      // The app's own client for that URL (the login limiter's) is a Cluster client.
      client = openRedisClient(redis.url, { maxRetriesPerRequest: 1 });
      const flags = String(await client.call('CLUSTER', 'NODES'))
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[2]!.replace('myself,', ''));
      expect(flags.sort()).toEqual(['master', 'master', 'master', 'slave', 'slave', 'slave']);
      // Keys of many slots land on every master, through the one client.
      for (let n = 0; n < 30; n++) await client.set(`pdv-test:${n}`, String(n), 'EX', 60);
      expect(await client.get('pdv-test:29')).toBe('29');
    } finally {
      client?.disconnect();
      await redis.stop();
    }
    for (const port of redis.ports)
      expect(await redisAnswers(`redis://127.0.0.1:${port}`)).toBe(false);
  }, 60_000);
});
