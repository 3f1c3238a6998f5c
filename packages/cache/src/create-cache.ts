import { TwoTierCache } from './cache.js';
import { registerCacheMetrics } from './metrics.js';
import { type CacheOptions, resolveOptions, warnings } from './options.js';
import { clientKeyPrefix } from './redis-connections.js';
import { RedisTier } from './redis-tier.js';
import type { Cache } from './types.js';

/** How many keys changed during a Redis outage are remembered before it clears everything on recovery. */
const JOURNAL_MAX_ENTRIES = 10_000;

/**
 * Creates the cache. With `redis` (or `REDIS_URL`) it is two-tier and shared by every
 * instance; without, it is one in-memory LRU for a single instance. Logs the mode once.
 *
 * @example
 * const cache = createCache(); // REDIS_URL decides
 * const limits = await cache.getOrSet(`limits:${id}`, () => loadLimits(id), 60);
 */
export function createCache(options?: CacheOptions): Cache {
  const o = resolveOptions(options);
  for (const warning of warnings(o)) o.logger.warn(`cache: ${warning}`);

  let cache: TwoTierCache;
  if (o.redis === undefined) {
    cache = new TwoTierCache(o, undefined);
    o.logger.info('cache: memory (single instance only)');
  } else {
    const tier = new RedisTier({
      source: o.redis,
      prefix: clientKeyPrefix(o.redis) + o.prefix,
      timeoutMs: o.timeoutMs,
      tracking: o.l1 !== false,
      journalMaxEntries: JOURNAL_MAX_ENTRIES,
      logger: o.logger,
      listener: { invalidate: (keys) => cache.invalidate(keys) },
    });
    cache = new TwoTierCache(o, tier);
    o.logger.info('cache: redis (distributed)');
  }

  if (o.registry) {
    const stopReporting = registerCacheMetrics(o.registry, o.name, () => cache.getStats());
    cache.onClose(stopReporting);
  }
  return cache;
}
