import { claimRegistry } from '@bancada/internal';
import { Counter, Gauge, type Registry } from 'prom-client';
import { invalidOption } from './errors.js';
import type { CacheStats } from './types.js';

type StatsSource = () => CacheStats;

// One set of metric objects per registry, fed by every cache that reports to it; the values
// are read from getStats() at scrape time, so the cache's hot path only bumps plain numbers.
const sourcesByRegistry = new WeakMap<Registry, Map<string, StatsSource>>();

/**
 * Exposes a cache's stats as `bancada_cache_*` metrics labelled `cache="<name>"`.
 * Returns the function that stops reporting (called by `close()`).
 */
export function registerCacheMetrics(registry: Registry, name: string, stats: StatsSource) {
  const unclaim = claimRegistry(registry, 'cache', name, invalidOption);
  let sources = sourcesByRegistry.get(registry);
  if (sources === undefined) {
    sources = new Map();
    sourcesByRegistry.set(registry, sources);
    createMetrics(registry, sources);
  }
  sources.set(name, stats);
  return () => {
    unclaim();
    sources.delete(name);
  };
}

function createMetrics(registry: Registry, sources: Map<string, StatsSource>): void {
  const counter = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (metric: Counter, cacheName: string, stats: CacheStats) => void,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['cache', ...labelNames],
      registers: [registry],
      collect() {
        this.reset();
        for (const [cacheName, source] of sources) fill(this, cacheName, source());
      },
    });

  counter('bancada_cache_hits_total', 'Lookups answered, by tier.', ['tier'], (m, cache, s) => {
    m.inc({ cache, tier: 'l1' }, s.l1.hits);
    if (s.l2) m.inc({ cache, tier: 'l2' }, s.l2.hits);
  });
  counter(
    'bancada_cache_misses_total',
    'Lookups not answered, by tier.',
    ['tier'],
    (m, cache, s) => {
      m.inc({ cache, tier: 'l1' }, s.l1.misses);
      if (s.l2) m.inc({ cache, tier: 'l2' }, s.l2.misses);
    },
  );
  counter('bancada_cache_lookups_total', 'Lookups, by result.', ['result'], (m, cache, s) => {
    m.inc({ cache, result: 'hit' }, s.hits);
    m.inc({ cache, result: 'miss' }, s.misses);
  });
  counter('bancada_cache_sets_total', 'Values stored.', [], (m, cache, s) =>
    m.inc({ cache }, s.sets),
  );
  counter('bancada_cache_deletes_total', 'Keys deleted.', [], (m, cache, s) =>
    m.inc({ cache }, s.deletes),
  );
  counter(
    'bancada_cache_errors_total',
    'Redis failures absorbed by the cache.',
    [],
    (m, cache, s) => m.inc({ cache }, s.errors),
  );
  new Gauge({
    name: 'bancada_cache_degraded',
    help: '1 while Redis is unreachable and the cache serves its local tier alone.',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cache, source] of sources) this.set({ cache }, source().degraded ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bancada_cache_l1_entries',
    help: 'Entries held in the in-process tier.',
    labelNames: ['cache'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cache, source] of sources) this.set({ cache }, source().l1.size);
    },
  });
}
