import { cleanupPrefix, keyPrefix, redisUrl } from '@bancada/testkit';
import keyvTestSuite from '@keyv/test-suite';
import { createCache as createCacheManager } from 'cache-manager';
import { Keyv } from 'keyv';
import * as vitest from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache } from '../src/index.js';
import { CacheArgumentError, createCache } from '../src/index.js';
import { createKeyvStore } from '../src/keyv/index.js';
import { instances, waitFor } from './helpers/fixtures.js';

const caches = instances('keyv');

/**
 * Keyv's own compliance suite on one cache of the backend. Each Keyv of the suite gets a
 * store of its own (Keyv sets its store's namespace), all on that one cache.
 */
function runKeyvSuite(make: () => Promise<Cache>) {
  let cache: Cache | undefined;
  beforeAll(async () => {
    cache = await make();
  });
  afterAll(async () => {
    await cache?.clear();
    await cache?.close();
  });
  keyvTestSuite(vitest, Keyv, () => createKeyvStore({ cache: cache! }));
}

describe('@keyv/test-suite (memory)', () => {
  runKeyvSuite(async () => createCache({ redis: false, logger: false }));
});

describe('@keyv/test-suite (redis)', () => {
  const prefix = keyPrefix('keyv-suite');
  runKeyvSuite(async () => createCache({ redis: await redisUrl(), prefix, logger: false }));
  afterAll(async () => {
    await cleanupPrefix(await redisUrl(), prefix);
  });
});

describe('createKeyvStore', () => {
  it('keeps instances coherent: a value changed through one is read through the other', async () => {
    const prefix = caches.prefix();
    const one = new Keyv({ store: createKeyvStore({ cache: await caches.redis({ prefix }) }) });
    const two = new Keyv({ store: createKeyvStore({ cache: await caches.redis({ prefix }) }) });
    await one.set('menu', { items: ['coxinha'] });
    expect(await two.get('menu')).toEqual({ items: ['coxinha'] }); // now held in two's local tier
    await one.set('menu', { items: ['coxinha', 'pastel'] });
    await waitFor('the new menu on the other instance', async () => {
      const menu = (await two.get('menu')) as { items: string[] };
      return menu.items.length === 2;
    });
  });

  it('expires a key in the store itself after its TTL in milliseconds', async () => {
    const cache = await caches.redis({ prefix: caches.prefix() });
    const store = createKeyvStore({ cache });
    await store.set('short', 'x', 150);
    await store.set('long', 'y', 60_000);
    expect(await store.has('short')).toBe(true);
    await waitFor('the 150 ms key to expire', async () => !(await store.has('short')));
    expect(await store.get('long')).toBe('y');
  });

  it('clears only its namespace, across instances', async () => {
    const prefix = caches.prefix();
    const menus = new Keyv({
      store: createKeyvStore({ cache: await caches.redis({ prefix }) }),
      namespace: 'menus',
    });
    const orders = new Keyv({
      store: createKeyvStore({ cache: await caches.redis({ prefix }) }),
      namespace: 'orders',
    });
    await menus.set('1', 'menu one');
    await orders.set('1', 'order one');
    await menus.clear();
    expect(await menus.get('1')).toBeUndefined();
    expect(await orders.get('1')).toBe('order one');
  });

  it('serves cache-manager 7: set, get, wrap, del, with TTLs in milliseconds', async () => {
    const cache = await caches.redis({ prefix: caches.prefix() });
    const manager = createCacheManager({
      stores: [new Keyv({ store: createKeyvStore({ cache }) })],
      ttl: 60_000,
    });
    await manager.set('limits:1', { tables: 12 });
    expect(await manager.get('limits:1')).toEqual({ tables: 12 });
    let loads = 0;
    const load = async () => {
      loads++;
      return { tables: 20 };
    };
    expect(await manager.wrap('limits:2', load, 100)).toEqual({ tables: 20 });
    expect(await manager.wrap('limits:2', load, 100)).toEqual({ tables: 20 });
    expect(loads).toBe(1);
    await waitFor('limits:2 to expire', async () => (await manager.get('limits:2')) === undefined);
    await manager.del('limits:1');
    expect(await manager.get('limits:1')).toBeUndefined();
    expect(cache.getStats().sets).toBeGreaterThanOrEqual(2);
  });

  it('closes the cache it made on disconnect, and never a cache passed in', async () => {
    const own = createKeyvStore({ redis: false, logger: false });
    await own.disconnect();
    await expect(own.get('k')).rejects.toMatchObject({ code: 'BANCADA_CACHE_CLOSED' });

    const mine = caches.memory();
    await createKeyvStore({ cache: mine }).disconnect();
    await mine.set('k', 'still open');
    expect(await mine.get('k')).toBe('still open');
  });

  it('refuses options that cannot work, naming what is wrong', async () => {
    const cache = caches.memory();
    expect(() => createKeyvStore(null as never)).toThrow(/options must be an object, got null/);
    expect(() => createKeyvStore({ cache, prefix: 'x:' } as never)).toThrow(
      /either \{ cache \} or the options of a new cache, not both \(got cache and prefix\)/,
    );
    expect(() => createKeyvStore({ cache: {} as Cache })).toThrow(
      /cache must be a cache made by createCache\(\)/,
    );
    expect(() => createKeyvStore({ prefix: '' })).toThrow(CacheArgumentError);
    const store = createKeyvStore({ cache });
    for (const ttl of [-1, Number.NaN]) {
      await expect(store.set('k', 'v', ttl)).rejects.toMatchObject({
        code: 'BANCADA_CACHE_INVALID_TTL',
        message: expect.stringMatching(/ttl must be a positive number of milliseconds/),
      });
    }
    expect(await store.get('k')).toBeUndefined();
  });
});
