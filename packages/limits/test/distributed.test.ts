import type { PrivateRedis } from '@bancada/testkit';
import { keyPrefix, recordingLogger, redisUrl, startRedis, waitFor } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConnectionLimiter,
  type ConnectionLimitOptions,
  connectionLimit,
  isRejection,
} from '../src/index.js';
import { fakeRequest } from './helpers/server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function gate(options: ConnectionLimitOptions): ConnectionLimiter {
  const created = connectionLimit({ logger: false, ...options });
  cleanups.push(() => created.close());
  return created;
}

/** Three limiters on one Redis and prefix: three instances of the app. */
async function threeInstances(options: ConnectionLimitOptions = {}) {
  const url = await redisUrl();
  const prefix = keyPrefix('limits');
  return [0, 1, 2].map(() => gate({ redis: url, prefix, ...options }));
}

describe('per-IP limit across instances (Redis)', () => {
  it('gives exactly 10 slots to 50 simultaneous attempts from one IP spread over 3 instances', async () => {
    const gates = await threeInstances();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => gates[i % 3]!.acquire(fakeRequest('198.51.100.20'))),
    );
    expect(results.filter((r) => !isRejection(r))).toHaveLength(10);
    expect(results.filter((r) => isRejection(r) && r.status === 429)).toHaveLength(40);
    // Another address is not affected.
    expect(isRejection(await gates[0]!.acquire(fakeRequest('198.51.100.21')))).toBe(false);
  });

  it('frees a slot for every instance when it is released on one', async () => {
    const gates = await threeInstances({ maxPerIp: 2 });
    const first = await gates[0]!.acquire(fakeRequest('198.51.100.22'));
    await gates[1]!.acquire(fakeRequest('198.51.100.22'));
    expect(await gates[2]!.acquire(fakeRequest('198.51.100.22'))).toMatchObject({ status: 429 });
    if (!isRejection(first)) first.release();
    await waitFor(
      'the freed slot to be taken',
      async () => !isRejection(await gates[2]!.acquire(fakeRequest('198.51.100.22'))),
    );
  });

  it('keeps the slots of a live instance, and expires those of one that stops renewing', async () => {
    const url = await redisUrl();
    const prefix = keyPrefix('limits');
    const crashingClient = new Redis(url);
    cleanups.push(() => crashingClient.disconnect());
    const live = gate({ redis: url, prefix, maxPerIp: 4, leaseTtlMs: 1500 });
    const crashing = gate({ redis: crashingClient, prefix, maxPerIp: 4, leaseTtlMs: 1500 });
    const other = gate({ redis: url, prefix, maxPerIp: 4, leaseTtlMs: 1500 });
    for (let i = 0; i < 2; i++) await live.acquire(fakeRequest('198.51.100.23'));
    for (let i = 0; i < 2; i++) await crashing.acquire(fakeRequest('198.51.100.23'));
    expect(await other.acquire(fakeRequest('198.51.100.23'))).toMatchObject({ status: 429 });

    // The crashing instance loses Redis and can renew nothing: its 2 slots expire.
    crashingClient.disconnect();
    const started = Date.now();
    await waitFor(
      'the dead instance’s slots to expire',
      async () => !isRejection(await other.acquire(fakeRequest('198.51.100.23'))),
      6000,
    );
    // Within 1.5 s of its last heartbeat (heartbeatTtlMs follows a shorter leaseTtlMs), with
    // room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(6000);
    // The live instance renewed: its 2 still count, so only one more fits after the first.
    await new Promise((resolve) => setTimeout(resolve, 2000)); // longer than leaseTtlMs
    expect(isRejection(await other.acquire(fakeRequest('198.51.100.23')))).toBe(false);
    expect(await other.acquire(fakeRequest('198.51.100.23'))).toMatchObject({ status: 429 });
  });

  it('releases everything it holds in Redis on close()', async () => {
    const gates = await threeInstances({ maxPerIp: 3 });
    for (let i = 0; i < 3; i++) await gates[0]!.acquire(fakeRequest('198.51.100.24'));
    expect(await gates[1]!.acquire(fakeRequest('198.51.100.24'))).toMatchObject({ status: 429 });
    await gates[0]!.close();
    expect(isRejection(await gates[1]!.acquire(fakeRequest('198.51.100.24')))).toBe(false);
  });
});

describe('when Redis goes away', () => {
  let server: PrivateRedis;

  async function privateRedis() {
    server = await startRedis();
    cleanups.push(() => server.stop());
    return server;
  }

  it('falls back to counting per instance, says so once, and shares again when Redis is back', async () => {
    await privateRedis();
    const logger = recordingLogger();
    const [a, b] = [0, 1].map(() => gate({ redis: server.url, maxPerIp: 2, logger }));
    await waitFor(
      'redis to be ready',
      async () => !isRejection(await a!.acquire(fakeRequest('198.51.100.30'))),
    );
    await server.kill();
    // Each instance now allows 2 on its own; never none, never unlimited.
    const onA = await Promise.all([1, 2, 3].map(() => a!.acquire(fakeRequest('198.51.100.31'))));
    const onB = await Promise.all([1, 2, 3].map(() => b!.acquire(fakeRequest('198.51.100.31'))));
    expect(onA.filter((r) => !isRejection(r))).toHaveLength(2);
    expect(onB.filter((r) => !isRejection(r))).toHaveLength(2);
    expect(a!.stats().degraded).toBe(true);
    expect(logger.lines.filter((l) => l.includes('redis unavailable'))).toHaveLength(2); // once per instance

    await server.restart();
    await waitFor(
      'a to share again',
      async () => {
        await a!.acquire(fakeRequest('198.51.100.32'));
        return !a!.stats().degraded;
      },
      10_000,
    );
    expect(logger.lines.some((l) => l.includes('redis is back'))).toBe(true);
    // The restarted Redis lost the leases; renewal puts back the ones still held.
    const raw = new Redis(server.url);
    cleanups.push(() => raw.disconnect());
    await waitFor(
      'held slots to be back in Redis',
      async () => (await raw.zcard('bancada:limits:ip:198.51.100.30')) === 1,
      15_000,
    );
  });

  it('turns connections away with 503 when told to fail closed, and lets them through when told to fail open', async () => {
    await privateRedis();
    const closed = gate({ redis: server.url, onRedisError: 'closed', maxPerIp: 1 });
    const open = gate({ redis: server.url, onRedisError: 'open', maxPerIp: 1 });
    await waitFor(
      'both ready',
      async () =>
        !isRejection(await closed.acquire(fakeRequest('198.51.100.40'))) &&
        !isRejection(await open.acquire(fakeRequest('198.51.100.41'))),
    );
    await server.kill();
    expect(await closed.acquire(fakeRequest('198.51.100.42'))).toMatchObject({
      status: 503,
      reason: 'unavailable',
    });
    for (let i = 0; i < 3; i++)
      expect(isRejection(await open.acquire(fakeRequest('198.51.100.43')))).toBe(false);
  });
});
