import { keyPrefix, recordingLogger, redisUrl, startRedis, waitFor } from '@bancada/testkit';
import express from 'express';
import { MemoryStore } from 'express-rate-limit';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closeRateLimits,
  LimitsOptionError,
  type RateLimitOptions,
  rateLimit,
} from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await closeRateLimits();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function app(options: RateLimitOptions) {
  const created = express();
  created.use(rateLimit(options));
  created.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  return created;
}

describe('rateLimit', () => {
  it('answers a JSON 429 with the standard RateLimit headers once the limit is spent', async () => {
    const limited = app({ redis: false, limit: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      const ok = await request(limited).get('/').expect(200);
      expect(ok.headers.ratelimit).toMatch(/; r=\d+; t=\d+/);
      expect(ok.headers['ratelimit-policy']).toBeDefined();
    }
    const refused = await request(limited).get('/').expect(429);
    expect(refused.body).toMatchObject({ error: 'rate-limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('shares one limit between instances through Redis', async () => {
    const shared = { redis: await redisUrl(), prefix: keyPrefix('rl'), limit: 5, windowMs: 60_000 };
    const one = app(shared);
    const two = app(shared);
    for (let i = 0; i < 3; i++) await request(one).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(429);
    await request(one).get('/').expect(429);
  });

  it('shares one Redis connection between its limiters, and closes it with closeRateLimits()', async () => {
    // A private server, so only this test's connections are counted.
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const url = server.url;
    const before = await connectionCount(url);
    app({ redis: url, prefix: keyPrefix('rl-a') });
    app({ redis: url, prefix: keyPrefix('rl-b') });
    app({ redis: url, prefix: keyPrefix('rl-c') });
    await waitFor('the shared connection', async () => (await connectionCount(url)) === before + 1);
    await closeRateLimits();
    await waitFor('the connection to close', async () => (await connectionCount(url)) === before);
  });

  it('says in its own words that Redis is not connected, naming the limiter, while Redis is away', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const logger = recordingLogger();
    const limited = app({ redis: server.url, prefix: 'rl:login:', limit: 3, logger });
    await request(limited).get('/').expect(200);
    await server.kill();
    await request(limited).get('/').expect(200);
    await request(limited).get('/').expect(200);

    const warnings = logger.lines.filter((line) => line.startsWith('warn'));
    expect(warnings).toHaveLength(1);
    // "not connected to Redis", or how the connection ended when that came first.
    expect(warnings[0]).toMatch(
      /^warn limits: redis unavailable \(.+\); rate limit "rl:login" counts per instance until it is back \(degraded\)$/,
    );
    // Not ioredis's words for it, which read like a setting to change.
    expect(logger.lines.join('\n')).not.toMatch(/maxRetriesPerRequest|max retries per request/i);
  });

  it('counts per instance while Redis is gone, says so once, and shares again when it is back', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const logger = recordingLogger();
    const options = { redis: server.url, prefix: keyPrefix('rl-out'), limit: 3, logger };
    const [one, two] = [app(options), app(options)];
    await request(one).get('/').expect(200);
    await server.kill();
    // Never unlimited, never all refused: each instance allows 3 on its own.
    for (const instance of [one, two]) {
      for (let i = 0; i < 3; i++) await request(instance).get('/').expect(200);
      await request(instance).get('/').expect(429);
    }
    const warnings = logger.lines.filter((l) => l.startsWith('warn limits: redis unavailable'));
    expect(warnings).toHaveLength(2); // once per instance
    expect(warnings[0]).toMatch(/counts per instance until it is back/);

    await server.restart();
    // The restarted Redis kept nothing: one's next request is the first it counts.
    await waitFor(
      'one to count in Redis again',
      async () =>
        (await request(one).get('/')).status === 200 &&
        logger.lines.some((l) => l.includes('shared again')),
      10_000,
    );
    // Shared again: two gets what one left of the limit, then both are refused.
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(429);
    await request(one).get('/').expect(429);
  });

  it('shares through a Redis that was away when it started, once that Redis is there', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    await server.kill();
    const logger = recordingLogger();
    const options = { redis: server.url, prefix: keyPrefix('rl-late'), limit: 3, logger };
    const [one, two] = [app(options), app(options)];
    for (let i = 0; i < 3; i++) await request(one).get('/').expect(200);
    await request(one).get('/').expect(429); // counted here meanwhile
    await server.restart();
    await waitFor(
      'two to count in Redis',
      async () =>
        (await request(two).get('/')).status === 200 &&
        logger.lines.some((l) => l.includes('shared again')),
      10_000,
    );
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(429); // three in Redis: the limit is shared
  });

  it('answers 503 when told to fail closed, and lets requests through uncounted when told to fail open', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const closed = app({
      redis: server.url,
      prefix: keyPrefix('rl-c'),
      limit: 1,
      onRedisError: 'closed',
      logger: false,
    });
    const openLog = recordingLogger();
    const open = app({
      redis: server.url,
      prefix: keyPrefix('rl-o'),
      limit: 1,
      onRedisError: 'open',
      logger: openLog,
    });
    // express-rate-limit's own switch says the same: false fails closed.
    const passFalse = app({
      redis: server.url,
      prefix: keyPrefix('rl-p'),
      limit: 1,
      passOnStoreError: false,
      logger: false,
    });
    await request(closed).get('/').expect(200);
    await request(open).get('/').expect(200);
    await request(passFalse).get('/').expect(200);
    await server.kill();
    const refused = await request(closed).get('/').expect(503);
    expect(refused.body).toMatchObject({ error: 'unavailable' });
    expect(refused.headers['retry-after']).toBe('1');
    await request(passFalse).get('/').expect(503);
    for (let i = 0; i < 3; i++) {
      const through = await request(open).get('/').expect(200);
      expect(through.headers.ratelimit).toMatch(/r=0; t=\d+/); // as the first of its window
    }
    // No complaint from express-rate-limit about what the open store answered.
    expect(openLog.lines.filter((l) => l.startsWith('error'))).toEqual([]);
  });

  it('counts its refusals and says when it is degraded in the bancada_limits metrics', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const registry = new Registry();
    const limited = app({
      redis: server.url,
      prefix: keyPrefix('rl-m'),
      limit: 1,
      name: 'login',
      registry,
      logger: false,
    });
    await request(limited).get('/').expect(200);
    await request(limited).get('/').expect(429);
    const metric = async (name: string) =>
      (await registry.getSingleMetric(name)?.get())?.values.find(
        (v) => v.labels.limiter === 'login',
      );
    expect(await metric('bancada_limits_rejections_total')).toMatchObject({
      labels: { reason: 'rate' },
      value: 1,
    });
    expect((await metric('bancada_limits_degraded'))?.value).toBe(0);
    await server.kill();
    await request(limited).get('/'); // the store notices
    expect((await metric('bancada_limits_degraded'))?.value).toBe(1);
    // A rate limit holds no connections: no active-connections series for it.
    expect(await metric('bancada_limits_active_connections')).toBeUndefined();
  });

  it("uses a caller's store as it is: no Redis connection of its own, and the caller's handler still counted", async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const before = await connectionCount(server.url);
    const registry = new Registry();
    const limited = app({
      redis: server.url,
      store: new MemoryStore(),
      limit: 1,
      name: 'own',
      registry,
      logger: false,
      handler: (_req, res) => {
        res.status(429).json({ mine: true });
      },
    });
    await request(limited).get('/').expect(200);
    expect((await request(limited).get('/').expect(429)).body).toEqual({ mine: true });
    expect(await connectionCount(server.url)).toBe(before);
    const rejections = await registry.getSingleMetric('bancada_limits_rejections_total')?.get();
    expect(rejections?.values).toContainEqual(
      expect.objectContaining({ labels: { limiter: 'own', reason: 'rate' }, value: 1 }),
    );
  });

  it('names each limiter after its prefix by default, so that two are told apart in the metrics', async () => {
    const registry = new Registry();
    const login = app({ redis: false, prefix: 'rl:login:', limit: 1, registry });
    const api = app({ redis: false, prefix: 'rl:api:', limit: 1, registry });
    for (const limited of [login, api]) {
      await request(limited).get('/').expect(200);
      await request(limited).get('/').expect(429);
    }
    const text = await registry.metrics();
    expect(text).toContain('bancada_limits_rejections_total{limiter="rl:login",reason="rate"} 1');
    expect(text).toContain('bancada_limits_rejections_total{limiter="rl:api",reason="rate"} 1');
  });

  it('refuses a second limiter on the default prefix on one registry, saying to give each its own prefix', () => {
    const registry = new Registry();
    rateLimit({ redis: false, registry });
    expect(() => rateLimit({ redis: false, registry })).toThrow(
      new LimitsOptionError(
        'a limiter named "bancada:rl" already reports to this registry: give each limiter its own name ' +
          '(the name comes from the prefix "bancada:rl:", which they share: give each its own prefix, ' +
          'which in Redis keeps their counts apart too)',
      ),
    );
    // Named apart, they may share the prefix.
    expect(() => rateLimit({ redis: false, registry, name: 'other' })).not.toThrow();
  });

  it('refuses a name that is empty or not a string, and a prefix that is not a string', () => {
    expect(() => rateLimit({ name: '' })).toThrow(
      new LimitsOptionError(
        'name must be a non-empty string (the limiter label of logs and metrics), got ""',
      ),
    );
    expect(() => rateLimit({ name: 7 as never })).toThrow(LimitsOptionError);
    expect(() => rateLimit({ prefix: 7 as never })).toThrow(
      new LimitsOptionError('prefix must be a string, got number'),
    );
  });

  it('refuses an onRedisError it does not know, and one that passOnStoreError contradicts', () => {
    expect(() => rateLimit({ onRedisError: 'sometimes' as never })).toThrow(
      /onRedisError must be 'local', 'open' or 'closed', got "sometimes"/,
    );
    expect(() =>
      rateLimit({ redis: false, passOnStoreError: true, onRedisError: 'closed' }),
    ).toThrow(/passOnStoreError: true means onRedisError 'open'/);
  });
});

/** Clients connected to the Redis at `url`, not counting the one asking. */
async function connectionCount(url: string): Promise<number> {
  const probe = new Redis(url);
  try {
    return (
      String(await probe.client('LIST'))
        .trim()
        .split('\n').length - 1
    );
  } finally {
    probe.disconnect();
  }
}
