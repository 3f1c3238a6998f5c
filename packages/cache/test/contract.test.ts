import { describe, expect, it } from 'vitest';
import type { Cache, CacheOptions } from '../src/index.js';
import { CacheArgumentError, CacheClosedError } from '../src/index.js';
import { instances, waitFor } from './helpers/fixtures.js';

const caches = instances('contract');

// Every behaviour a caller relies on, run against both backends: the same code must behave
// the same whether REDIS_URL is set or not.
const backends: Array<[string, (options?: CacheOptions) => Promise<Cache>]> = [
  ['memory', async (options) => caches.memory({ prefix: caches.prefix(), ...options })],
  ['redis', (options) => caches.redis({ prefix: caches.prefix(), ...options })],
];

describe.each(backends)('cache contract (%s)', (mode, make) => {
  it('reports its mode', async () => {
    const cache = await make();
    expect(cache.mode).toBe(mode);
    expect(cache.getStats().mode).toBe(mode);
  });

  it('round-trips JSON values exactly', async () => {
    const cache = await make();
    const values: Record<string, unknown> = {
      null: null,
      zero: 0,
      false: false,
      empty: '',
      unicode: 'pão de queijo 🧀 — ação',
      nested: { a: [1, { b: null, c: 'x' }], d: { e: { f: true } } },
      array: [1, 'two', null, [3]],
      float: 12.5,
    };
    for (const [key, value] of Object.entries(values)) await cache.set(key, value);
    for (const [key, value] of Object.entries(values)) {
      expect(await cache.get(key)).toStrictEqual(value);
    }
  });

  it('returns undefined for a key never set', async () => {
    const cache = await make();
    expect(await cache.get('nothing-here')).toBeUndefined();
  });

  it('stores a copy: changing the object after set does not change the cache', async () => {
    const cache = await make();
    const order = { id: 1, items: ['coxinha'] };
    await cache.set('order', order);
    order.items.push('pastel');
    expect(await cache.get('order')).toStrictEqual({ id: 1, items: ['coxinha'] });
  });

  it('returns a frozen value, so a caller cannot corrupt what others read', async () => {
    const cache = await make();
    await cache.set('menu', { items: [{ name: 'café' }] });
    await cache.get('menu');
    const menu = await cache.get<{ items: Array<{ name: string }> }>('menu');
    expect(() => {
      menu!.items[0]!.name = 'chá';
    }).toThrow(TypeError);
    expect(await cache.get('menu')).toStrictEqual({ items: [{ name: 'café' }] });
  });

  it('overwrites and deletes', async () => {
    const cache = await make();
    await cache.set('k', 1);
    await cache.set('k', 2);
    expect(await cache.get('k')).toBe(2);
    expect(await cache.delete('k')).toBe(true);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.delete('k')).toBe(false);
  });

  it('expires a value after its TTL', async () => {
    const cache = await make();
    await cache.set('short', 'soon gone', 0.2);
    await cache.set('long', 'still here', 60);
    expect(await cache.get('short')).toBe('soon gone');
    await waitFor('the short key to expire', async () => (await cache.get('short')) === undefined);
    expect(await cache.get('long')).toBe('still here');
  });

  it('keeps a value without expiry when the TTL is Infinity', async () => {
    const cache = await make({ defaultTtlSeconds: 0.05 });
    await cache.set('forever', 1, Infinity);
    await cache.set('default', 1);
    await waitFor(
      'the default-TTL key to expire',
      async () => (await cache.get('default')) === undefined,
    );
    expect(await cache.get('forever')).toBe(1);
  });

  it('rejects bad keys with a TypeError that has a code', async () => {
    const cache = await make();
    for (const key of ['', 42, null, undefined, {}] as unknown[]) {
      const error = await cache.get(key as string).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({ code: 'BANCADA_CACHE_INVALID_KEY' });
      await expect(cache.set(key as string, 1)).rejects.toThrow(/non-empty strings/);
      await expect(cache.delete(key as string)).rejects.toThrow(TypeError);
    }
  });

  it('rejects bad TTLs, and says how to remove a key instead of a TTL of 0', async () => {
    const cache = await make();
    await expect(cache.set('k', 1, 0)).rejects.toThrow(/use delete\(\)/);
    for (const ttl of [-1, Number.NaN, '10'] as unknown[]) {
      await expect(cache.set('k', 1, ttl as number)).rejects.toMatchObject({
        code: 'BANCADA_CACHE_INVALID_TTL',
      });
    }
    expect(await cache.get('k')).toBeUndefined();
  });

  it('refuses values that cannot be serialized and stores nothing for them', async () => {
    const cache = await make();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const value of [undefined, () => 1, Symbol('s'), 10n, circular]) {
      const error = await cache.set('bad', value).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CacheArgumentError);
      expect(error).toMatchObject({ code: 'BANCADA_CACHE_UNSERIALIZABLE' });
    }
    expect(await cache.get('bad')).toBeUndefined();
    expect(cache.getStats().sets).toBe(0);
  });

  it('deletes by glob pattern and nothing else', async () => {
    const cache = await make();
    for (const key of ['orders:1', 'orders:2', 'orders:10', 'orders-archive', 'menu:1', 'o?x']) {
      await cache.set(key, key);
    }
    expect(await cache.deletePattern('orders:?')).toBe(2);
    expect(await cache.get('orders:10')).toBe('orders:10');
    expect(await cache.deletePattern('orders*')).toBe(2);
    expect(await cache.deletePattern('o\\?x')).toBe(1);
    expect(await cache.get('menu:1')).toBe('menu:1');
    expect(await cache.deletePattern('[a-l]*')).toBe(0);
    expect(await cache.deletePattern('[^a-l]*')).toBe(1);
    expect(await cache.get('menu:1')).toBeUndefined();
  });

  it('rejects an empty pattern', async () => {
    const cache = await make();
    await expect(cache.deletePattern('')).rejects.toMatchObject({
      code: 'BANCADA_CACHE_INVALID_PATTERN',
    });
  });

  it('clears its own keys', async () => {
    const cache = await make();
    await cache.set('a', 1);
    await cache.set('b', 2);
    await cache.clear();
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('b')).toBeUndefined();
  });

  it('runs one loader for 100 concurrent getOrSet callers', async () => {
    const cache = await make();
    let calls = 0;
    const loader = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { limits: { tables: 12 } };
    };
    const results = await Promise.all(
      Array.from({ length: 100 }, () => cache.getOrSet('limits', loader)),
    );
    expect(calls).toBe(1);
    for (const result of results) expect(result).toStrictEqual({ limits: { tables: 12 } });
    expect(await cache.getOrSet('limits', loader)).toStrictEqual({ limits: { tables: 12 } });
    expect(calls).toBe(1);
  });

  it('gives every waiter the loader error and caches nothing', async () => {
    const cache = await make();
    let calls = 0;
    const failing = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('database unavailable');
    };
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => cache.getOrSet('flaky', failing)),
    );
    expect(calls).toBe(1);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { message: 'database unavailable' },
      });
    }
    expect(await cache.get('flaky')).toBeUndefined();
    expect(await cache.getOrSet('flaky', () => 'recovered')).toBe('recovered');
    expect(calls).toBe(1);
  });

  it('does not cache a loader result of undefined', async () => {
    const cache = await make();
    let calls = 0;
    const absent = () => {
      calls++;
      return undefined;
    };
    expect(await cache.getOrSet('absent', absent)).toBeUndefined();
    expect(await cache.getOrSet('absent', absent)).toBeUndefined();
    expect(calls).toBe(2);
  });

  it('rejects a getOrSet without a loader function', async () => {
    const cache = await make();
    await expect(cache.getOrSet('k', 'value' as never)).rejects.toThrow(/loader function/);
  });

  it('counts hits, misses, sets and deletes', async () => {
    const cache = await make();
    await cache.get('a');
    await cache.set('a', 1);
    await cache.get('a');
    await cache.get('a');
    await cache.delete('a');
    const stats = cache.getStats();
    expect(stats).toMatchObject({
      hits: 2,
      misses: 1,
      sets: 1,
      deletes: 1,
      errors: 0,
      degraded: false,
    });
    expect(stats.hitRate).toBeCloseTo(2 / 3);
  });

  it('refuses every call after close(), and close() twice is fine', async () => {
    const cache = await make();
    await cache.close();
    await cache.close();
    await expect(cache.get('k')).rejects.toBeInstanceOf(CacheClosedError);
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'BANCADA_CACHE_CLOSED' });
  });
});
