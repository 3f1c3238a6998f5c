import { keyPrefix, recordingLogger, startSentinel, waitFor } from '@bancada/testkit';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConnectionLimiter,
  type ConnectionLimitOptions,
  closeRateLimits,
  connectionLimit,
  isRejection,
  type RateLimitOptions,
  rateLimit,
} from '../src/index.js';
import { fakeRequest } from './helpers/server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await closeRateLimits();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function gate(options: ConnectionLimitOptions): ConnectionLimiter {
  const created = connectionLimit({ logger: false, ...options });
  cleanups.push(() => created.close());
  return created;
}

function app(options: RateLimitOptions) {
  const created = express();
  created.use(rateLimit({ logger: false, ...options }));
  created.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  return created;
}

describe('limits through Redis Sentinel', () => {
  it('shares counts through the master the Sentinels name, counts per instance while it fails over, and shares again after', async () => {
    const sentinel = await startSentinel();
    cleanups.push(() => sentinel.stop());
    const logger = recordingLogger();
    const prefix = keyPrefix('rl-sentinel');
    // Each request says which client it counts for.
    const keyGenerator = (req: express.Request) => String(req.headers['x-client']);
    const options = { prefix, limit: 3, logger, keyGenerator };
    const from = (instance: express.Express, client: string) =>
      request(instance).get('/').set('X-Client', client);
    // Two instances: by URL, and by ioredis options.
    const one = app({ ...options, redis: sentinel.url });
    const two = app({
      ...options,
      redis: { sentinels: sentinel.sentinelList, name: sentinel.masterName },
    });
    const gates = [0, 1].map(() => gate({ redis: sentinel.url, prefix, maxPerIp: 1, logger }));
    expect(logger.lines).toContainEqual(
      'info limits: redis sentinel mymaster (per-IP limit of 1 shared by every instance)',
    );
    await from(one, 'before').expect(200);
    await from(two, 'before').expect(200);
    await from(one, 'before').expect(200);
    await from(two, 'before').expect(429);
    expect(isRejection(await gates[0]!.acquire(fakeRequest('198.51.100.60')))).toBe(false);
    expect(await gates[1]!.acquire(fakeRequest('198.51.100.60'))).toMatchObject({ status: 429 });

    // The master dies; until the Sentinels promote a replica (over a second), each instance
    // counts on its own, as when a single Redis goes away: never none, never unlimited.
    const master = await sentinel.master();
    await master.kill();
    for (const instance of [one, two]) {
      for (let i = 0; i < 3; i++) await from(instance, 'outage').expect(200);
      await from(instance, 'outage').expect(429);
    }
    for (const g of gates) {
      expect(isRejection(await g.acquire(fakeRequest('198.51.100.62')))).toBe(false);
      expect(await g.acquire(fakeRequest('198.51.100.62'))).toMatchObject({ status: 429 });
      expect(g.stats().degraded).toBe(true);
    }
    // Once per limiter and instance: two rate limits, two connection limiters.
    expect(logger.lines.filter((l) => l.includes('redis unavailable'))).toHaveLength(4);

    await waitFor(
      'a replica to be promoted',
      async () => (await sentinel.master()) !== master,
      20_000,
    );
    // Back once every instance that said it was degraded has said it shares again.
    const said = (text: string) => logger.lines.filter((l) => l.includes(text)).length;
    await waitFor(
      'both limits to share again',
      async () => {
        await from(one, 'probe');
        await from(two, 'probe');
        await gates[0]!.acquire(fakeRequest('198.51.100.61'));
        await gates[1]!.acquire(fakeRequest('198.51.100.61'));
        return said('redis unavailable') === said('redis is back');
      },
      20_000,
    );
    await from(one, 'after').expect(200);
    await from(two, 'after').expect(200);
    await from(one, 'after').expect(200);
    await from(two, 'after').expect(429);
    // The lease taken before the failover was replicated, or renewed since: it still counts.
    expect(await gates[1]!.acquire(fakeRequest('198.51.100.60'))).toMatchObject({ status: 429 });
  });

  it('says why when the Sentinels know no master of that name, and counts per instance', async () => {
    const sentinel = await startSentinel({ replicas: 1 });
    cleanups.push(() => sentinel.stop());
    const logger = recordingLogger();
    const url = sentinel.url.replace(/\/mymaster$/, '/nosuchmaster');
    const limiter = gate({ redis: url, maxPerIp: 1, logger });
    expect(isRejection(await limiter.acquire(fakeRequest('198.51.100.70')))).toBe(false);
    expect(await limiter.acquire(fakeRequest('198.51.100.70'))).toMatchObject({ status: 429 });
    expect(logger.lines.join('\n')).toMatch(/redis unavailable \(.*No such master with that name/);
  });
});
