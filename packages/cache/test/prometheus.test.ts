import { checkMetricsText, familiesWithoutSamples } from '@bancada/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { instances } from './helpers/fixtures.js';

const caches = instances('prometheus');

describe('the cache metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const registry = new Registry();
    const cache = await caches.redis({ prefix: caches.prefix(), registry, name: 'menus' });
    await cache.set('menu', { items: ['coxinha'] });
    await cache.get('menu'); // a local hit
    await cache.get('absent'); // a miss in both tiers
    await cache.delete('menu');
    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toContain('bancada_cache_hits_total{cache="menus",tier="l1"} 1');
    await checkMetricsText(text);
  });
});
