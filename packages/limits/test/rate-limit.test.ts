import { keyPrefix, redisUrl, startRedis, waitFor } from '@bancada/testkit';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRateLimits, type RateLimitOptions, rateLimit } from '../src/index.js';

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

  it('keeps serving when Redis is gone instead of failing every request', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const limited = app({ redis: server.url, limit: 100 });
    await request(limited).get('/').expect(200);
    await server.kill();
    await request(limited).get('/').expect(200);
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
