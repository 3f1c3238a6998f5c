import {
  connectClient,
  headerAuthenticate,
  joinedClient,
  type PrivateTlsRedis,
  recordingLogger,
  serveHub,
  startTlsRedis,
  waitFor,
} from '@bancada/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../src/index.js';

// Redis as hosted services give it: TLS (a certificate of a throw-away authority here) and a
// user with a password, reached with a rediss:// URL and the authority as ioredis's
// `tls: { ca }`. The hub takes both through its public API: an ioredis client as `redis`,
// only a template for its own connections.

let server: PrivateTlsRedis;
beforeAll(async () => {
  server = await startTlsRedis();
});
afterAll(() => server?.stop());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const alice = { name: 'alice', restaurantId: 'a' };

function hubOn(url: string, tls: RedisOptions['tls'], logger = recordingLogger()): Hub {
  const template = new Redis(url, { tls, lazyConnect: true });
  cleanups.push(() => template.disconnect());
  return createHub({
    authenticate: headerAuthenticate,
    redis: template,
    prefix: 'tls:',
    history: true,
    logger,
  });
}

describe('the hub on Redis with TLS and a password', () => {
  it('fans out across instances and replays history to a client that resumes', async () => {
    const logger = recordingLogger();
    const one = await serveHub(hubOn(server.url, { ca: server.ca }, logger));
    const two = await serveHub(hubOn(server.url, { ca: server.ca }, logger));
    const live = await joinedClient(two.wsUrl, alice, 'restaurant:a');
    const first = await one.hub.toRestaurant('a', { eventType: 'order-created', payload: 1 });
    await live.next((m) => m.type === 'event' && m.id === first.id, 'the event on instance two');
    await one.hub.toRestaurant('a', { eventType: 'order-created', payload: 2 });

    const late = await connectClient(two.wsUrl, alice);
    late.send({ type: 'resume', room: 'restaurant:a', since: first.id });
    await late.next((m) => m.type === 'event' && m.payload === 2, 'the replayed event');
    expect(late.messages.filter((m) => m.type === 'gap')).toEqual([]);
    expect(two.hub.stats()).toMatchObject({ mode: 'redis', degraded: false });
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
  });

  for (const [what, url, tls, cause] of [
    [
      'a wrong password',
      () => server.url.replace(server.password, 'not-it'),
      () => ({ ca: server.ca }),
      /WRONGPASS/,
    ],
    ['a certificate it does not trust', () => server.url, () => ({}), /self[- ]signed certificate/],
  ] as const) {
    it(`with ${what}: not ready, degraded, serving its own clients, and the log says why`, async () => {
      const logger = recordingLogger();
      const hub = hubOn(url(), tls(), logger);
      expect(await hub.ready(1500)).toBe(false);
      expect(hub.stats().degraded).toBe(true);
      await waitFor('the cause in the log', () => logger.lines.some((l) => cause.test(l)));
      // Its own clients still get their events.
      const running = await serveHubAnyway(hub);
      const client = await joinedClient(running.wsUrl, alice, 'restaurant:a');
      await hub.toRestaurant('a', { eventType: 'order-created' });
      await client.next((m) => m.type === 'event', 'the local event');
    });
  }
});

/** Serves a hub that is not connected to Redis (serveHub waits for that). */
function serveHubAnyway(hub: Hub) {
  return serveHub({
    attach: (httpServer, options) => hub.attach(httpServer, options),
    sse: () => hub.sse(),
    ready: async () => true,
    close: () => hub.close(),
  });
}
