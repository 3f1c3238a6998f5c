// One logger contract for every Bancada package.
export type { Logger } from '@bancada/internal';

/** Which backend a cache runs on. */
export type CacheMode = 'memory' | 'redis';

/** Counters returned by `cache.getStats()`; they only ever grow until the cache is closed. */
export interface CacheStats {
  mode: CacheMode;
  /** True while Redis is unreachable and the cache serves its local tier alone. */
  degraded: boolean;
  /** Lookups that found a value in either tier. */
  hits: number;
  /** Lookups that found nothing in any tier. */
  misses: number;
  /** hits / (hits + misses), 0 before the first lookup. */
  hitRate: number;
  /** The in-process tier (the only tier in memory mode). */
  l1: { hits: number; misses: number; size: number };
  /** The Redis tier; null in memory mode. */
  l2: { hits: number; misses: number } | null;
  sets: number;
  deletes: number;
  /** Redis failures and unreadable stored values; none of them reached a caller as an exception. */
  errors: number;
}

/** The cache every Bancada instance shares. All methods are async. */
export interface Cache {
  readonly mode: CacheMode;
  /** The stored value, or undefined when absent. A local hit returns a shared, frozen object. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Stores a JSON-serializable value for ttlSeconds (default: the cache's defaultTtlSeconds). */
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>;
  /** Removes a key; resolves true when it existed. */
  delete(key: string): Promise<boolean>;
  /** Removes every key of this cache matching a Redis glob (`orders:*`); resolves the count. */
  deletePattern(glob: string): Promise<number>;
  /** Removes every key of this cache, and only those (never FLUSHDB). */
  clear(): Promise<void>;
  /**
   * Returns the cached value, or runs `loader` once for all concurrent callers of the key in
   * this process, caches its result (unless undefined) and returns it. A loader that throws
   * caches nothing, and every waiter gets its error.
   */
  getOrSet<T>(key: string, loader: () => T | Promise<T>, ttlSeconds?: number): Promise<T>;
  getStats(): CacheStats;
  /** Closes the connections the cache opened (never a client you passed in). */
  close(): Promise<void>;
}
