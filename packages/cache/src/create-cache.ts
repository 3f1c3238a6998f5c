import { describeTopology, topologyOf } from '@bancada/internal';
import { TwoTierCache } from './cache.js';
import { ClusterTier } from './cluster-tier.js';
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

  const topology = o.redis === undefined ? undefined : topologyOf(o.redis);
  const tierOptions = {
    prefix: o.prefix,
    timeoutMs: o.timeoutMs,
    invalidations: o.l1 !== false,
    lock: o.lock,
    logger: o.logger,
  };
  let tier: RedisTier | ClusterTier | undefined;
  if (o.redis === undefined || topology === undefined) {
    o.logger.info('cache: memory (single instance only)');
  } else if (topology.kind === 'cluster') {
    // It says so itself once it knows how many masters there are.
    tier = new ClusterTier({ source: o.redis, ...tierOptions });
  } else {
    tier = new RedisTier({
      source: o.redis,
      ...tierOptions,
      keepLocalWhenLost: topology.kind === 'single',
    });
    o.logger.info(`cache: ${describeTopology(topology)} (distributed)`);
  }
  const cache = new TwoTierCache(o, tier);

  if (o.registry) {
    const stopReporting = registerCacheMetrics(o.registry, o.name, () => cache.getStats());
    cache.onClose(stopReporting);
  }
  return cache;
}
