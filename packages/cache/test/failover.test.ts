import { keyPrefix, startCluster, startSentinel } from '@bancada/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cache, type CacheOptions, createCache } from '../src/index.js';
import { waitFor } from './helpers/fixtures.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoInstances(redis: string) {
  const options: CacheOptions = { redis, prefix: keyPrefix('failover'), logger: false };
  const a = createCache(options);
  const b = createCache(options);
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  for (const cache of [a, b]) {
    await waitFor('the cache to reach Redis', async () => {
      await cache.get('nothing');
      return !cache.getStats().degraded;
    });
  }
  return { a, b, prefix: options.prefix! };
}

/** Reads until the key sits in the instance's local tier (a local hit is counted). */
async function warm(cache: Cache, key: string): Promise<void> {
  await waitFor(`${key} to be held locally`, async () => {
    const before = cache.getStats().l1.hits;
    await cache.get(key);
    return cache.getStats().l1.hits > before;
  });
}

/**
 * Reads `key` on `cache` over and over until stopped, noting when each read started and
 * what it returned.
 */
function keepReading(cache: Cache, key: string) {
  const reads: Array<{ startedAt: number; value: unknown }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const startedAt = performance.now();
      reads.push({ startedAt, value: await cache.get(key) });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    reads,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/**
 * Writes `value` on `cache` until Redis holds it (right after a failover a write may fail
 * once or twice); resolves when the write completed.
 */
async function writeUntilStored(
  cache: Cache,
  key: string,
  value: unknown,
  stored: () => Promise<unknown>,
) {
  await waitFor(
    `${key} = ${JSON.stringify(value)} to be stored`,
    async () => {
      await cache.set(key, value);
      return (await stored()) === JSON.stringify(value);
    },
    20_000,
  );
  return performance.now();
}

/**
 * The promise of the issue, checked on what `b` read: no read that started after `a`'s write
 * completed returns an older value (a miss is no stale value), and `b` does see the new one.
 */
async function expectNoStaleRead(reader: ReturnType<typeof keepReading>, writtenAt: number) {
  const after = () => reader.reads.filter((read) => read.startedAt > writtenAt);
  await waitFor('b to see the new value', () => after().at(-1)?.value === 'after', 20_000);
  await waitFor('b to read the key 20 times since the write', () => after().length >= 20, 10_000);
  await reader.stop();
  expect(
    after().filter((read) => read.value === 'before'),
    timeline(reader.reads, writtenAt),
  ).toEqual([]);
  expect(after().at(-1)?.value).toBe('after');
  // The instance did hold the old value locally before the failover.
  expect(reader.reads[0]?.value).toBe('before');
}

/** What b read, as runs of one value with the time each began relative to the write, for a failure message. */
function timeline(reads: Array<{ startedAt: number; value: unknown }>, writtenAt: number): string {
  const runs: string[] = [];
  let last: unknown = Symbol();
  for (const read of reads) {
    if (read.value === last) continue;
    last = read.value;
    runs.push(`${JSON.stringify(read.value)} from ${Math.round(read.startedAt - writtenAt)} ms`);
  }
  return runs.join(', ');
}

describe('across a failover', () => {
  it('on a Redis Cluster: after the promotion, no instance serves a value older than a write made since', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const raw = new Cluster(cluster.seeds);
    cleanups.push(() => raw.disconnect());
    const { a, b, prefix } = await twoInstances(cluster.url);
    // One key on the master that fails, one on another that keeps serving.
    const failing = await cluster.masterOf(`${prefix}menu`);
    let other = 'stock-0';
    for (let i = 1; (await cluster.masterOf(prefix + other)).port === failing.port; i++) {
      other = `stock-${i}`;
    }
    await a.set('menu', 'before');
    await a.set(other, 'kept');
    await warm(b, 'menu');
    await warm(b, other);

    let sameNode = 'price-0';
    for (let i = 1; (await cluster.masterOf(prefix + sameNode)).port !== failing.port; i++) {
      sameNode = `price-${i}`;
    }
    await a.set(sameNode, 'old');

    const reader = keepReading(b, 'menu');
    const failedOver = cluster.failover(failing);
    await waitFor('the master to be down', () => !failing.server.isRunning);
    // A write that cannot reach its node: Redis (the promoted replica) keeps the old value,
    // which the instance deletes there before it trusts that node again.
    await a.set(sameNode, 'while down');
    await failedOver;
    const writtenAt = await writeUntilStored(a, 'menu', 'after', () => raw.get(`${prefix}menu`));
    await expectNoStaleRead(reader, writtenAt);
    expect(await b.get(other)).toBe('kept');
    await waitFor(
      'the old value to be deleted',
      async () => (await raw.get(prefix + sameNode)) === null,
    );
    expect(await b.get(sameNode)).toBeUndefined();
  }, 90_000);

  it('with Sentinel: after the promotion, no instance serves a value older than a write made since', async () => {
    const sentinel = await startSentinel();
    cleanups.push(() => sentinel.stop());
    const raw = new Redis({ sentinels: sentinel.sentinelList, name: sentinel.masterName });
    raw.on('error', () => {});
    cleanups.push(() => raw.disconnect());
    const { a, b, prefix } = await twoInstances(sentinel.url);
    await a.set('menu', 'before');
    await warm(b, 'menu');

    const reader = keepReading(b, 'menu');
    await sentinel.failover();
    const writtenAt = await writeUntilStored(a, 'menu', 'after', () =>
      raw.get(`${prefix}menu`).catch(() => null),
    );
    await expectNoStaleRead(reader, writtenAt);
  }, 90_000);
});
