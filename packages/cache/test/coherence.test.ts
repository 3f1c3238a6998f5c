import { redisUrl } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache } from '../src/index.js';
import { instances, waitFor } from './helpers/fixtures.js';

const caches = instances('coherence');
let raw: Redis;

beforeAll(async () => {
  raw = new Redis(await redisUrl());
});
afterAll(() => raw.disconnect());

/** Three caches on one Redis and one prefix: three instances of the same app. */
async function threeInstances(): Promise<{ prefix: string; a: Cache; b: Cache; c: Cache }> {
  const prefix = caches.prefix();
  const [a, b, c] = await Promise.all([
    caches.redis({ prefix }),
    caches.redis({ prefix }),
    caches.redis({ prefix }),
  ]);
  return { prefix, a: a!, b: b!, c: c! };
}

/** Reads until the key sits in the instance's local tier (a local hit is counted). */
async function warm(cache: Cache, key: string): Promise<void> {
  await waitFor(`${key} to be held locally`, async () => {
    const before = cache.getStats().l1.hits;
    await cache.get(key);
    return cache.getStats().l1.hits > before;
  });
}

describe('coherence across instances', () => {
  it('serves repeated reads from the local tier', async () => {
    const { a, b } = await threeInstances();
    await a.set('menu', { items: 3 });
    await warm(b, 'menu');
    expect(await b.get('menu')).toStrictEqual({ items: 3 });
    expect(b.getStats().l1.hits).toBeGreaterThan(0);
  });

  it('a set on one instance replaces the value every other instance holds locally', async () => {
    const { a, b, c } = await threeInstances();
    await a.set('price', 10);
    await warm(b, 'price');
    await warm(c, 'price');
    await a.set('price', 12);
    await waitFor('b to see the new price', async () => (await b.get('price')) === 12);
    await waitFor('c to see the new price', async () => (await c.get('price')) === 12);
    expect(await a.get('price')).toBe(12);
  });

  it('a delete on one instance removes the key everywhere', async () => {
    const { a, b, c } = await threeInstances();
    await a.set('session-count', 5);
    await warm(b, 'session-count');
    await warm(c, 'session-count');
    await c.delete('session-count');
    await waitFor('b to lose the key', async () => (await b.get('session-count')) === undefined);
    expect(await a.get('session-count')).toBeUndefined();
  });

  it('deletePattern and clear on one instance reach the others', async () => {
    const { a, b } = await threeInstances();
    await a.set('orders:1', 1);
    await a.set('orders:2', 2);
    await a.set('menu', 'm');
    for (const key of ['orders:1', 'orders:2', 'menu']) await warm(b, key);
    expect(await a.deletePattern('orders:*')).toBe(2);
    await waitFor('b to lose the orders', async () => (await b.get('orders:1')) === undefined);
    expect(await b.get('orders:2')).toBeUndefined();
    expect(await b.get('menu')).toBe('m');
    await a.clear();
    await waitFor('b to lose the menu', async () => (await b.get('menu')) === undefined);
  });

  it('a write made outside Bancada (a plain SET or DEL) invalidates every instance', async () => {
    const { prefix, a, b } = await threeInstances();
    await a.set('limits', { tables: 10 });
    await warm(a, 'limits');
    await warm(b, 'limits');
    await raw.set(`${prefix}limits`, JSON.stringify({ tables: 20 }));
    await waitFor('a to see the outside write', async () => {
      const value = await a.get<{ tables: number }>('limits');
      return value?.tables === 20;
    });
    await waitFor('b to see the outside write', async () => {
      const value = await b.get<{ tables: number }>('limits');
      return value?.tables === 20;
    });
    await raw.del(`${prefix}limits`);
    await waitFor('a to see the outside delete', async () => (await a.get('limits')) === undefined);
  });

  it('an expiry in Redis removes the local copies too', async () => {
    const { a, b } = await threeInstances();
    await a.set('flash-sale', true, 0.3);
    await warm(b, 'flash-sale');
    await waitFor('the sale to expire on b', async () => (await b.get('flash-sale')) === undefined);
    await waitFor('the sale to expire on a', async () => (await a.get('flash-sale')) === undefined);
  });

  it('never keeps a value read just before another instance replaced it', async () => {
    // Hammer one key from two instances; after the last write settles, every instance
    // must agree with Redis, whatever order replies and invalidations arrived in.
    const { prefix, a, b } = await threeInstances();
    const reads: Array<Promise<unknown>> = [];
    for (let i = 0; i < 300; i++) {
      reads.push(b.get('hot'));
      reads.push((i % 2 === 0 ? a : b).set('hot', i));
    }
    await Promise.all(reads);
    await a.set('hot', 'final');
    const stored = JSON.parse((await raw.get(`${prefix}hot`))!);
    expect(stored).toBe('final');
    await waitFor('b to agree with Redis', async () => (await b.get('hot')) === 'final');
    // Stays agreed: no late reply puts an older value back.
    for (let i = 0; i < 20; i++) expect(await b.get('hot')).toBe('final');
  });

  it('shares getOrSet results: a value loaded on one instance is a hit on another', async () => {
    const { a, b } = await threeInstances();
    let loads = 0;
    const loader = () => {
      loads++;
      return { plan: 'pro' };
    };
    expect(await a.getOrSet('plan', loader)).toStrictEqual({ plan: 'pro' });
    expect(await b.getOrSet('plan', loader)).toStrictEqual({ plan: 'pro' });
    expect(loads).toBe(1);
  });

  it('spreads expiries with ttlJitter, never beyond the TTL asked for', async () => {
    const prefix = caches.prefix();
    const cache = await caches.redis({ prefix, ttlJitter: 0.5 });
    for (let i = 0; i < 20; i++) await cache.set(`k${i}`, i, 100);
    const ttls = await Promise.all(
      Array.from({ length: 20 }, (_, i) => raw.pttl(`${prefix}k${i}`)),
    );
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(49_000);
      expect(ttl).toBeLessThanOrEqual(100_000);
    }
    expect(new Set(ttls.map((t) => Math.round(t / 1000))).size).toBeGreaterThan(1);
  });

  it('keeps caches with different prefixes apart', async () => {
    const one = await caches.redis({ prefix: caches.prefix() });
    const two = await caches.redis({ prefix: caches.prefix() });
    await one.set('k', 'one');
    await two.set('k', 'two');
    await two.clear();
    expect(await one.get('k')).toBe('one');
    expect(await two.get('k')).toBeUndefined();
  });
});

describe('getOrSet across instances with the lock option', () => {
  it('runs one loader for concurrent callers spread over three instances', async () => {
    const prefix = caches.prefix();
    const instancesWithLock = await Promise.all(
      [0, 1, 2].map(() => caches.redis({ prefix, lock: { ttlMs: 5000, waitMs: 3000 } })),
    );
    let loads = 0;
    const loader = async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 150));
      return { plan: 'pro', loads };
    };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => instancesWithLock[i % 3]!.getOrSet('plan', loader)),
    );
    expect(loads).toBe(1);
    for (const result of results) expect(result).toStrictEqual({ plan: 'pro', loads: 1 });
  });

  it('loads anyway when the holder never stores a value within waitMs', async () => {
    const prefix = caches.prefix();
    const a = await caches.redis({ prefix, lock: { ttlMs: 5000, waitMs: 200 } });
    const b = await caches.redis({ prefix, lock: { ttlMs: 5000, waitMs: 200 } });
    let releaseSlow!: () => void;
    const slow = a.getOrSet(
      'slow',
      () => new Promise<string>((resolve) => (releaseSlow = () => resolve('from a'))),
    );
    await waitFor(
      'a to hold the lock',
      async () => (await raw.exists(`bancada:load-lock:${prefix}slow`)) === 1,
    );
    expect(await b.getOrSet('slow', () => 'from b')).toBe('from b');
    releaseSlow();
    expect(await slow).toBe('from a');
  });

  it('without the option, each instance may run its own loader (the documented default)', async () => {
    const prefix = caches.prefix();
    const [a, b] = await Promise.all([caches.redis({ prefix }), caches.redis({ prefix })]);
    let loads = 0;
    const loader = async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return 'v';
    };
    await Promise.all([a.getOrSet('k', loader), b.getOrSet('k', loader)]);
    expect(loads).toBe(2);
  });
});
