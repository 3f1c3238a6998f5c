import { redisUrl } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheArgumentError, createCache } from '../src/index.js';
import { instances, recordingLogger } from './helpers/fixtures.js';

const caches = instances('options');
const savedRedisUrl = process.env.REDIS_URL;
afterEach(() => {
  if (savedRedisUrl === undefined) delete process.env.REDIS_URL;
  else process.env.REDIS_URL = savedRedisUrl;
});

describe('createCache mode detection', () => {
  it('uses memory and says so once when nothing points at Redis', () => {
    delete process.env.REDIS_URL;
    const logger = recordingLogger();
    const cache = caches.track(createCache({ logger }));
    expect(cache.mode).toBe('memory');
    expect(logger.lines).toEqual(['info cache: memory (single instance only)']);
  });

  it('uses REDIS_URL when no redis option is given', async () => {
    process.env.REDIS_URL = await redisUrl();
    const logger = recordingLogger();
    const cache = caches.track(createCache({ logger, prefix: caches.prefix() }));
    expect(cache.mode).toBe('redis');
    expect(logger.lines).toEqual(['info cache: redis (distributed)']);
  });

  it('lets an explicit redis: false win over REDIS_URL', async () => {
    process.env.REDIS_URL = await redisUrl();
    const cache = caches.track(createCache({ redis: false, logger: false }));
    expect(cache.mode).toBe('memory');
  });

  it('accepts an ioredis client, works through its own connections, and leaves the client open', async () => {
    const client = new Redis(await redisUrl());
    try {
      const prefix = caches.prefix();
      const cache = createCache({ redis: client, prefix, logger: false });
      await cache.set('k', 'v');
      expect(await client.get(`${prefix}k`)).toBe('"v"');
      await cache.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('folds the key prefix of a given client into its own', async () => {
    const url = await redisUrl();
    const prefix = caches.prefix();
    const client = new Redis(url, { keyPrefix: `${prefix}tenant:` });
    const plain = new Redis(url);
    try {
      const cache = caches.track(createCache({ redis: client, prefix: 'c:', logger: false }));
      await cache.set('k', 1);
      expect(await plain.get(`${prefix}tenant:c:k`)).toBe('1');
      await cache.clear();
      expect(await plain.exists(`${prefix}tenant:c:k`)).toBe(0);
    } finally {
      client.disconnect();
      plain.disconnect();
    }
  });
});

describe('createCache option validation', () => {
  const bad: Array<[string, object, RegExp]> = [
    ['a non-URL string', { redis: 'localhost:6379' }, /redis:\/\//],
    [
      'a Sentinel URL without the master name',
      { redis: 'redis-sentinel://127.0.0.1:26379' },
      /master's name/,
    ],
    ['a cluster URL without nodes', { redis: 'redis-cluster://' }, /names no host:port/],
    ['an empty seed list', { redis: { cluster: [] } }, /at least one node/],
    ['Sentinel options without a name', { redis: { sentinels: [{ port: 1 }] } }, /name/],
    ['an empty prefix', { prefix: '' }, /prefix/],
    ['a zero default TTL', { defaultTtlSeconds: 0 }, /defaultTtlSeconds/],
    ['a jitter of 1', { ttlJitter: 1 }, /ttlJitter/],
    ['a fractional l1 size', { l1: { maxEntries: 1.5 } }, /maxEntries/],
    [
      'an infinite l1 age',
      { redis: 'redis://127.0.0.1:1', l1: { maxAgeSeconds: Infinity } },
      /maxAgeSeconds/,
    ],
    ['l1: false without Redis', { redis: false, l1: false }, /needs Redis/],
    ['a zero timeout', { timeoutMs: 0 }, /timeoutMs/],
    ['a fractional lock wait', { lock: { waitMs: 1.5 } }, /lock\.waitMs/],
    ['a logger without warn', { logger: { info() {}, error() {} } }, /logger/],
  ];
  it.each(bad)('rejects %s with a clear TypeError', (_what, options, message) => {
    const attempt = () => createCache({ redis: false, logger: false, ...options });
    expect(attempt).toThrow(CacheArgumentError);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(message);
  });

  it('warns once about settings that work but are probably wrong', () => {
    const logger = recordingLogger();
    caches.track(createCache({ redis: false, prefix: 'nosep', logger }));
    expect(logger.lines.filter((l) => l.startsWith('warn'))).toEqual([
      expect.stringContaining('BANCADA_CACHE_PREFIX_SEPARATOR'),
    ]);
  });

  it('warns when memory mode is used in production', () => {
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const logger = recordingLogger();
      caches.track(createCache({ redis: false, logger }));
      expect(logger.lines.join('\n')).toContain('BANCADA_CACHE_MEMORY_IN_PRODUCTION');
    } finally {
      process.env.NODE_ENV = saved;
    }
  });
});

describe('cache metrics', () => {
  it('exposes bancada_cache_* metrics on a prom-client registry', async () => {
    const registry = new Registry();
    const cache = await caches.redis({ registry, prefix: caches.prefix(), name: 'menu' });
    await cache.get('a');
    await cache.set('a', 1);
    await cache.get('a');
    await cache.get('a');
    const text = await registry.metrics();
    expect(text).toContain('bancada_cache_lookups_total{cache="menu",result="miss"} 1');
    expect(text).toContain('bancada_cache_lookups_total{cache="menu",result="hit"} 2');
    expect(text).toContain('bancada_cache_sets_total{cache="menu"} 1');
    expect(text).toContain('bancada_cache_degraded{cache="menu"} 0');
    // set() keeps the value locally, so both hits were local.
    expect(text).toContain('bancada_cache_hits_total{cache="menu",tier="l1"} 2');
    expect(text).toContain('bancada_cache_hits_total{cache="menu",tier="l2"} 0');
    expect(text).toContain('bancada_cache_errors_total{cache="menu"} 0');
  });

  it('reports several caches on one registry by name, and refuses a duplicate name', async () => {
    const registry = new Registry();
    const one = caches.memory({ registry, name: 'one' });
    caches.memory({ registry, name: 'two' });
    await one.set('k', 1);
    const text = await registry.metrics();
    expect(text).toContain('bancada_cache_sets_total{cache="one"} 1');
    expect(text).toContain('bancada_cache_sets_total{cache="two"} 0');
    expect(() => caches.memory({ registry, name: 'one' })).toThrow(/already reports/);
  });

  it('stops reporting a cache once it is closed', async () => {
    const registry = new Registry();
    const cache = caches.memory({ registry, name: 'gone' });
    await cache.close();
    expect(await registry.metrics()).not.toContain('cache="gone"');
    caches.memory({ registry, name: 'gone' });
  });
});
