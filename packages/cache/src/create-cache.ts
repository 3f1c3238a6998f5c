import { TwoTierCache } from './cache.js';
import { registerCacheMetrics } from './metrics.js';
import { type CacheOptions, resolveOptions, warnings } from './options.js';
import { RedisTier } from './redis-tier.js';
import type { Cache } from './types.js';

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

  const tier =
    o.redis === undefined
      ? undefined
      : new RedisTier({
          source: o.redis,
          prefix: o.prefix,
          timeoutMs: o.timeoutMs,
          invalidations: o.l1 !== false,
          lock: o.lock,
          logger: o.logger,
        });
  const cache = new TwoTierCache(o, tier);
  o.logger.info(tier ? 'cache: redis (distributed)' : 'cache: memory (single instance only)');

  if (o.registry) {
    const stopReporting = registerCacheMetrics(o.registry, o.name, () => cache.getStats());
    cache.onClose(stopReporting);
  }
  return cache;
}
