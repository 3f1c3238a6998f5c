import { checkRedisSource, type Logger, type RedisSource, resolveLogger } from '@bancada/internal';
import type { Registry } from 'prom-client';
import { invalidOption } from './errors.js';

/** Options of `createCache()`. Every one is optional. */
export interface CacheOptions {
  /**
   * Where the shared tier lives: a URL (`redis://`, `rediss://`, a Redis Cluster as
   * `redis-cluster://host:port,host:port`, a Sentinel set-up as
   * `redis-sentinel://host:port,host:port/mymaster`), an ioredis `Redis` or `Cluster` client
   * (only a template: the cache opens its own connections and never closes yours), ioredis
   * options (with `sentinels` and `name` for Sentinel), or `{ cluster: ['host:port', …] }`.
   * `false` forces memory mode even when `REDIS_URL` is set.
   * @default process.env.REDIS_URL, else memory mode
   */
  redis?: RedisSource | false;
  /**
   * Prefix of every Redis key this cache owns; `clear()` and invalidations cover only it.
   * @default 'bancada:cache:'
   */
  prefix?: string;
  /**
   * TTL of `set()` and `getOrSet()` calls that pass none. `Infinity` means no expiry.
   * @default 300
   */
  defaultTtlSeconds?: number;
  /**
   * Each TTL is shortened by a random fraction up to this much, so keys written together
   * do not all expire together (0 to 1).
   * @default 0
   */
  ttlJitter?: number;
  /**
   * The in-process tier. In Redis mode, `maxAgeSeconds` caps how long a local copy may live
   * even if an invalidation were lost. `false` turns the local tier off in Redis mode.
   * @default { maxEntries: 10_000, maxAgeSeconds: 30 }
   */
  l1?: { maxEntries?: number; maxAgeSeconds?: number } | false;
  /**
   * How long commands may go unanswered before Redis counts as gone; a call then serves the
   * local tier instead (it waits at most about 1.25 × timeoutMs).
   * @default 250
   */
  timeoutMs?: number;
  /**
   * Across instances, only one runs a getOrSet loader for a key at a time: the others wait
   * (at most `waitMs`) for its value. Uses a short Redis lock (`ttlMs`). Ignored in memory
   * mode, where there is one instance. `true` means the defaults.
   * @default false
   */
  lock?: boolean | { ttlMs?: number; waitMs?: number };
  /**
   * Label of this cache's metrics (`cache="..."`), to tell several caches apart.
   * @default 'default'
   */
  name?: string;
  /** A prom-client registry to expose `bancada_cache_*` metrics on. */
  registry?: Registry;
  /**
   * Where the cache says which mode it chose and when Redis comes and goes. `false` silences it.
   * @default console
   */
  logger?: Logger | false;
}

/** Options after defaults, as the cache uses them. */
export interface ResolvedCacheOptions {
  redis: RedisSource | undefined;
  prefix: string;
  defaultTtlSeconds: number;
  ttlJitter: number;
  l1: { maxEntries: number; maxAgeSeconds: number } | false;
  timeoutMs: number;
  lock: { ttlMs: number; waitMs: number } | false;
  name: string;
  registry: Registry | undefined;
  logger: Logger;
}

/** Merges defaults (after dropping undefined) and throws a CacheArgumentError for what cannot work. */
export function resolveOptions(
  options: CacheOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedCacheOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption(`options must be an object, got ${typeof options}`);
  }
  const redis =
    options.redis === false ? undefined : (options.redis ?? (env.REDIS_URL || undefined));
  const l1 =
    options.l1 === false
      ? false
      : {
          maxEntries: options.l1?.maxEntries ?? 10_000,
          maxAgeSeconds: options.l1?.maxAgeSeconds ?? 30,
        };
  const resolved: ResolvedCacheOptions = {
    redis,
    prefix: options.prefix ?? 'bancada:cache:',
    defaultTtlSeconds: options.defaultTtlSeconds ?? 300,
    ttlJitter: options.ttlJitter ?? 0,
    l1,
    timeoutMs: options.timeoutMs ?? 250,
    lock:
      options.lock === undefined || options.lock === false
        ? false
        : {
            ttlMs: (options.lock === true ? undefined : options.lock.ttlMs) ?? 5000,
            waitMs: (options.lock === true ? undefined : options.lock.waitMs) ?? 3000,
          },
    name: options.name ?? 'default',
    registry: options.registry,
    logger: resolveLogger(options.logger, invalidOption),
  };
  validate(resolved, options);
  return resolved;
}

function validate(o: ResolvedCacheOptions, given: CacheOptions): void {
  checkRedisSource(o.redis, invalidOption, { orFalse: true });
  if (typeof o.prefix !== 'string' || o.prefix.length === 0) {
    throw invalidOption(
      'prefix must be a non-empty string: without one, clear() would own the database',
    );
  }
  if (!isPositive(o.defaultTtlSeconds)) {
    throw invalidOption(
      `defaultTtlSeconds must be a positive number or Infinity, got ${o.defaultTtlSeconds}`,
    );
  }
  if (typeof o.ttlJitter !== 'number' || !(o.ttlJitter >= 0 && o.ttlJitter < 1)) {
    throw invalidOption(
      `ttlJitter must be a fraction from 0 up to (not including) 1, got ${o.ttlJitter}`,
    );
  }
  if (o.l1 !== false) {
    if (!Number.isInteger(o.l1.maxEntries) || o.l1.maxEntries < 1) {
      throw invalidOption(
        `l1.maxEntries must be a whole number of at least 1, got ${o.l1.maxEntries}`,
      );
    }
    if (!isPositive(o.l1.maxAgeSeconds) || o.l1.maxAgeSeconds === Infinity) {
      throw invalidOption(
        `l1.maxAgeSeconds must be a positive, finite number, got ${o.l1.maxAgeSeconds}`,
      );
    }
  }
  if (given.l1 === false && o.redis === undefined) {
    throw invalidOption('l1: false needs Redis: in memory mode the local tier is the whole cache');
  }
  if (!Number.isFinite(o.timeoutMs) || o.timeoutMs < 1) {
    throw invalidOption(`timeoutMs must be a positive number of milliseconds, got ${o.timeoutMs}`);
  }
  if (o.lock !== false) {
    for (const [name, value] of Object.entries(o.lock)) {
      if (!Number.isInteger(value) || value < 1) {
        throw invalidOption(`lock.${name} must be a whole number of milliseconds, got ${value}`);
      }
    }
  }
  if (typeof o.name !== 'string' || o.name.length === 0) {
    throw invalidOption('name must be a non-empty string');
  }
}

/** Warnings for settings that work but are probably not what was meant, each logged once. */
export function warnings(o: ResolvedCacheOptions, env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  if (o.redis === undefined && env.NODE_ENV === 'production') {
    found.push(
      'BANCADA_CACHE_MEMORY_IN_PRODUCTION: cache in memory mode with NODE_ENV=production; ' +
        'each instance will hold its own copy. Set REDIS_URL to share it.',
    );
  }
  if (!/[:/._-]$/.test(o.prefix)) {
    found.push(
      `BANCADA_CACHE_PREFIX_SEPARATOR: prefix "${o.prefix}" does not end with a separator such as ":"; ` +
        `keys of "${o.prefix}" and "${o.prefix}x..." caches will overlap.`,
    );
  }
  if (o.l1 !== false && o.redis !== undefined && o.l1.maxAgeSeconds > o.defaultTtlSeconds) {
    found.push(
      `BANCADA_CACHE_L1_OUTLIVES_TTL: l1.maxAgeSeconds (${o.l1.maxAgeSeconds}) is longer than ` +
        `defaultTtlSeconds (${o.defaultTtlSeconds}); local copies are capped at each key's TTL anyway.`,
    );
  }
  return found;
}

/** True for a number > 0 (Infinity included). */
export function isPositive(value: unknown): value is number {
  return typeof value === 'number' && value > 0;
}
