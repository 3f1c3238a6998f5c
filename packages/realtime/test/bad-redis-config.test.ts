import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, recordingLogger, startCluster, startSentinel } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { createHub } from '../src/index.js';
import { afterThisTest, connectClient, headerAuthenticate } from './helpers/hubs.js';

const alice = { name: 'alice', restaurantId: 'a' };

/** A hub on `redis` that may never connect: served without waiting for Redis. */
async function hubOn(redis: string) {
  const logger = recordingLogger();
  const hub = createHub({ authenticate: headerAuthenticate, logger, redis });
  const server = createServer();
  hub.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { hub, wsUrl: `ws://127.0.0.1:${port}/ws`, logger };
}

/** Resolves how long `work` took; fails the test if it takes longer than `ms` (a hang). */
async function finishes(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a Redis set-up that cannot work', () => {
  it('runs degraded on an unreachable seed list, says why, and still serves local clients', async () => {
    const url = `redis-cluster://127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const { hub, wsUrl, logger } = await hubOn(url);
    expect(await hub.ready(1500)).toBe(false);
    expect(hub.stats()).toMatchObject({ mode: 'redis', degraded: true });
    expect(
      logger.lines.some(
        (l) =>
          l.startsWith('error realtime: redis') && /refresh slots|ECONNREFUSED|connect/i.test(l),
      ),
    ).toBe(true);

    const client = await connectClient(wsUrl, alice);
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await client.next((m) => m.type === 'joined', 'joined');
    await finishes(hub.toRestaurant('a', { eventType: 'local-only' }), 5000);
    await client.next((m) => m.type === 'event' && m.eventType === 'local-only', 'the event');
    await finishes(hub.close(), 5000);
  });

  it('runs degraded on a cluster that does not serve every slot, says why, and still serves local clients', async () => {
    const cluster = await startCluster({ replicas: 0 });
    afterThisTest(() => cluster.stop());
    const [gone] = await cluster.masters();
    await gone!.server.kill(); // no replica takes over: a third of the slots are served by nobody
    const { hub, wsUrl, logger } = await hubOn(cluster.url);
    expect(await hub.ready(3000)).toBe(false);
    expect(
      logger.lines.some((l) =>
        l.startsWith('warn realtime: the redis cluster does not serve every slot'),
      ),
    ).toBe(true);
    const client = await connectClient(wsUrl, alice);
    client.send({ type: 'subscribe', room: 'restaurant:a' });
    await client.next((m) => m.type === 'joined', 'joined');
    await finishes(hub.toRestaurant('a', { eventType: 'local-only' }), 5000);
    await client.next((m) => m.type === 'event' && m.eventType === 'local-only', 'the event');
    await finishes(hub.close(), 5000);
  }, 60_000);

  it('runs degraded on a Sentinel name that does not exist, says why, and closes without a hang', async () => {
    const sentinel = await startSentinel({ replicas: 1 });
    afterThisTest(() => sentinel.stop());
    const url = sentinel.url.replace(/\/[^/]+$/, '/no-such-master');
    const { hub, logger } = await hubOn(url);
    expect(await hub.ready(1500)).toBe(false);
    expect(hub.stats().degraded).toBe(true);
    expect(
      logger.lines.some(
        (l) =>
          l.startsWith('error realtime: redis') &&
          l.includes('the Sentinels know no master named "no-such-master"'),
      ),
    ).toBe(true);
    await finishes(hub.toRestaurant('a', { eventType: 'local-only' }), 5000);
    await finishes(hub.close(), 5000);
  });
});
