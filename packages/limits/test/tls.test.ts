import { type PrivateTlsRedis, recordingLogger, startTlsRedis, waitFor } from '@bancada/testkit';
import express from 'express';
import { Redis, type RedisOptions } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeRateLimits, connectionLimit, isRejection, rateLimit } from '../src/index.js';
import { fakeRequest } from './helpers/fake-request.js';

// Redis as hosted services give it: TLS (a certificate of a throw-away authority here) and a
// user with a password, reached with a rediss:// URL and the authority as ioredis's
// `tls: { ca }`: given as an ioredis client, which the limiters use as it is (and never close).

let server: PrivateTlsRedis;
beforeAll(async () => {
  server = await startTlsRedis();
});
afterAll(() => server?.stop());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await closeRateLimits();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(url: string, tls: RedisOptions['tls']): Redis {
  const redis = new Redis(url, { tls, maxRetriesPerRequest: 0 });
  redis.on('error', () => {}); // yours to handle: the limiters report through their logger
  cleanups.push(() => redis.disconnect());
  return redis;
}

function limitersOn(redis: Redis, logger = recordingLogger()) {
  const connections = connectionLimit({ maxPerIp: 1, redis, prefix: 'tls:conn:', logger });
  cleanups.push(() => connections.close());
  const app = express();
  app.use(rateLimit({ redis, prefix: 'tls:rl:', limit: 1, name: 'api', logger }));
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  return { connections, app, logger };
}

describe('the limits on Redis with TLS and a password', () => {
  it('share the per-IP limit and the rate limit across instances', async () => {
    const one = limitersOn(client(server.url, { ca: server.ca }));
    const two = limitersOn(client(server.url, { ca: server.ca }));
    const held = await one.connections.acquire(fakeRequest('10.0.0.1'));
    expect(isRejection(held)).toBe(false);
    expect(await two.connections.acquire(fakeRequest('10.0.0.1'))).toMatchObject({
      reason: 'per-ip',
    });
    await request(one.app).get('/').expect(200);
    await request(two.app).get('/').expect(429);
    expect(one.connections.stats().degraded).toBe(false);
    expect([...one.logger.lines, ...two.logger.lines].filter((l) => !l.startsWith('info'))).toEqual(
      [],
    );
  });

  for (const [what, url, tls, cause] of [
    [
      'a wrong password',
      () => server.url.replace(server.password, 'not-it'),
      () => ({ ca: server.ca }),
      /WRONGPASS/,
    ],
    ['a certificate they do not trust', () => server.url, () => ({}), /self[- ]signed certificate/],
  ] as const) {
    it(`with ${what}: count per instance, degraded, and the log says why`, async () => {
      const { connections, app, logger } = limitersOn(client(url(), tls()));
      const held = await connections.acquire(fakeRequest('10.0.0.1'));
      expect(isRejection(held)).toBe(false);
      expect(await connections.acquire(fakeRequest('10.0.0.1'))).toMatchObject({
        reason: 'per-ip',
      });
      expect(connections.stats().degraded).toBe(true);
      await request(app).get('/').expect(200);
      await request(app).get('/').expect(429);
      await waitFor(
        'the cause in the log',
        () => logger.lines.filter((l) => l.startsWith('warn') && cause.test(l)).length === 2,
      );
    });
  }
});
