import { EventEmitter } from 'node:events';
import { createCache } from '../create-cache.js';
import { CacheArgumentError, invalidOption } from '../errors.js';
import { escapeGlob } from '../glob.js';
import type { CacheOptions } from '../options.js';
import type { Cache } from '../types.js';

/**
 * What `createKeyvStore()` takes: a cache of yours (`{ cache }`, never closed by the store),
 * or the options of a cache for the store to make and to close on `disconnect()`.
 */
export type KeyvStoreOptions = CacheOptions | { cache: Cache };

/**
 * The two-tier cache as a Keyv 5 storage adapter (`new Keyv({ store })`), so that Keyv,
 * cache-manager 7 and NestJS's cache module use it. Keyv serializes values and prefixes keys
 * with its namespace (`<namespace>:<key>`); this store keeps what it is given, with Keyv's
 * TTL in milliseconds. One store per Keyv: Keyv sets the store's `namespace`.
 */
export class KeyvCacheStore extends EventEmitter {
  /** Read by Keyv (a store's settings); `dialect` names the backend. */
  readonly opts: { dialect: 'bancada'; [setting: string]: unknown } = { dialect: 'bancada' };
  /**
   * Set by Keyv to its namespace: `clear()` then removes only keys of that namespace. Without
   * one (`new Keyv({ store, namespace: '' })`) `clear()` empties the whole cache.
   */
  namespace: string | undefined;

  /** `owned`: the store made the cache, and closes it on `disconnect()`. */
  constructor(
    readonly cache: Cache,
    private readonly owned: boolean,
  ) {
    super();
  }

  async get<Value>(key: string): Promise<Value | undefined> {
    return this.cache.get<Value>(key);
  }

  /**
   * Stores `value` for `ttl` milliseconds; no `ttl` (or 0, as Keyv means it) keeps it until it
   * is deleted or evicted.
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    await this.cache.set(key, value, ttlSeconds(ttl));
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return this.cache.delete(key);
  }

  /** Removes this namespace's keys (all of the cache's when there is no namespace). */
  async clear(): Promise<void> {
    if (this.namespace) await this.cache.deletePattern(`${escapeGlob(this.namespace)}:*`);
    else await this.cache.clear();
  }

  async has(key: string): Promise<boolean> {
    return (await this.cache.get(key)) !== undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    return Promise.all(keys.map((key) => this.cache.get<Value>(key)));
  }

  /** True when every key existed and was deleted (as Keyv answers for stores without it). */
  async deleteMany(keys: string[]): Promise<boolean> {
    const deleted = await Promise.all(keys.map((key) => this.cache.delete(key)));
    return deleted.length > 0 && deleted.every(Boolean);
  }

  /** Closes the cache if the store made it (never a cache you passed in). */
  async disconnect(): Promise<void> {
    if (this.owned) await this.cache.close();
  }
}

/**
 * A Keyv storage adapter on Bancada's cache: `createKeyvStore()` makes a cache from the same
 * options as `createCache()` (REDIS_URL decides), `createKeyvStore({ cache })` wraps yours.
 *
 * @example
 * const keyv = new Keyv({ store: createKeyvStore({ prefix: 'app:cache:' }), namespace: 'menu' });
 */
export function createKeyvStore(options: KeyvStoreOptions = {}): KeyvCacheStore {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption(
      `options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  if (!('cache' in options)) return new KeyvCacheStore(createCache(options), true);
  const { cache, ...rest } = options;
  if (Object.keys(rest).length > 0) {
    throw invalidOption(
      `pass either { cache } or the options of a new cache, not both (got cache and ${Object.keys(rest).join(', ')})`,
    );
  }
  if (!isCache(cache)) {
    throw invalidOption('cache must be a cache made by createCache()');
  }
  return new KeyvCacheStore(cache, false);
}

function isCache(value: unknown): value is Cache {
  const cache = value as Partial<Cache> | null;
  return (
    typeof cache === 'object' &&
    cache !== null &&
    typeof cache.get === 'function' &&
    typeof cache.set === 'function' &&
    typeof cache.deletePattern === 'function' &&
    typeof cache.getStats === 'function'
  );
}

/** Keyv's milliseconds as the cache's seconds; none (or Keyv's 0) is no expiry. */
function ttlSeconds(ttl: number | undefined): number {
  if (ttl === undefined || ttl === 0) return Infinity;
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl < 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_TTL',
      `ttl must be a positive number of milliseconds (0 or none: no expiry), got ${String(ttl)}`,
    );
  }
  return ttl / 1000;
}
