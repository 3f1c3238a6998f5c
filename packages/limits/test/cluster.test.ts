import type { PrivateCluster } from '@bancada/testkit';
import { keyPrefix, recordingLogger, startCluster, waitFor } from '@bancada/testkit';
import express from 'express';
import { Cluster } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectionLimiter,
  type ConnectionLimitOptions,
  closeRateLimits,
  connectionLimit,
  isRejection,
  LimitsOptionError,
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

/**
 * Resolves once `limiter` counts in the cluster: on a loaded machine the cluster may take longer
 * than the first acquire waits (1 s), and the limiter rightly starts counting on its own.
 */
async function reachesCluster(limiter: ConnectionLimiter): Promise<void> {
  await waitFor('the limiter to reach the cluster', async () => {
    const probe = await limiter.acquire(fakeRequest('192.0.2.254'));
    if (!isRejection(probe)) probe.release();
    return !limiter.stats().degraded;
  });
}

function app(options: RateLimitOptions) {
  const created = express();
  created.use(rateLimit({ logger: false, ...options }));
  created.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  return created;
}

/** Kills the master that serves `key` and resolves once a replica serves its slot again. */
async function killMasterOf(cluster: PrivateCluster, key: string) {
  const master = await cluster.masterOf(key);
  await master.server.kill();
  return {
    settled: () =>
      waitFor(
        'a replica to take over',
        async () => (await cluster.masterOf(key).catch(() => master)) !== master,
        30_000,
      ),
  };
}

describe('limits on a Redis Cluster', () => {
  let cluster: PrivateCluster;
  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(() => cluster?.stop());

  it('counts a rate limit once across two instances, and says at start it shares through a cluster', async () => {
    const prefix = keyPrefix('rl-cluster');
    // Two instances with a connection each: by URL, and by seed list.
    const one = app({ redis: cluster.url, prefix, limit: 5, windowMs: 60_000 });
    const two = app({ redis: { cluster: cluster.seeds }, prefix, limit: 5, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) await request(one).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(200);
    await request(two).get('/').expect(429);
    await request(one).get('/').expect(429);
  });

  it('counts keys of every slot: 20 clients spread over the three masters, each limited once', async () => {
    const prefix = keyPrefix('rl-spread');
    const options = { redis: cluster.url, prefix, limit: 2, windowMs: 60_000 };
    const [one, two] = [app(options), app({ ...options, redis: { cluster: cluster.seeds } })];
    const masters = new Set<number>();
    for (let i = 1; i <= 20; i++) {
      const ip = `203.0.113.${i}`;
      masters.add((await cluster.masterOf(`${prefix}${ip}`)).port);
      const from = (instance: express.Express) =>
        request(instance).get('/').set('X-Forwarded-For', ip);
      one.set('trust proxy', true);
      two.set('trust proxy', true);
      await from(one).expect(200);
      await from(two).expect(200);
      await from(one).expect(429);
    }
    expect(masters.size).toBe(3);
  });

  it('takes an ioredis Cluster as it is, and never closes it', async () => {
    const client = new Cluster(cluster.seeds);
    cleanups.push(() => client.disconnect());
    const prefix = keyPrefix('rl-own');
    const limited = app({ redis: client, prefix, limit: 1, windowMs: 60_000 });
    await request(limited).get('/').expect(200);
    await request(limited).get('/').expect(429);
    await closeRateLimits();
    expect(client.status).toBe('ready');
  });

  it('shares the per-IP connection limit across two instances: exactly 10 of 50 attempts', async () => {
    const prefix = keyPrefix('limits-cluster');
    const logger = recordingLogger();
    const gates = [
      gate({ redis: cluster.url, prefix, logger }),
      gate({ redis: { cluster: cluster.seeds }, prefix }),
    ];
    expect(logger.lines).toContainEqual(
      'info limits: redis cluster (per-IP limit of 10 shared by every instance)',
    );
    for (const limiter of gates) await reachesCluster(limiter);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => gates[i % 2]!.acquire(fakeRequest('198.51.100.20'))),
    );
    expect(results.filter((r) => !isRejection(r))).toHaveLength(10);
    expect(results.filter((r) => isRejection(r) && r.status === 429)).toHaveLength(40);
    // Released on one, free on the other.
    const held = results.find((r) => !isRejection(r));
    if (held && !isRejection(held)) held.release();
    await waitFor(
      'the freed slot to be taken on the other instance',
      async () => !isRejection(await gates[1]!.acquire(fakeRequest('198.51.100.20'))),
    );
  });

  it('renews the leases of clients on every master', async () => {
    const prefix = keyPrefix('limits-renew');
    const [a, b] = [0, 1].map(() =>
      gate({ redis: cluster.url, prefix, maxPerIp: 1, leaseTtlMs: 600, heartbeatTtlMs: 600 }),
    );
    const ips = Array.from({ length: 12 }, (_, i) => `198.51.100.${100 + i}`);
    for (const ip of ips) expect(isRejection(await a!.acquire(fakeRequest(ip)))).toBe(false);
    // Several lease times later, a's slots still count on b: renewed on whichever master.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const ip of ips) expect(await b!.acquire(fakeRequest(ip))).toMatchObject({ status: 429 });
    expect(a!.stats().degraded).toBe(false);
  });
});

describe('limits when a Redis Cluster master fails over', () => {
  it('counts connections per instance while the master is away, says so once, and shares again after the failover', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const prefix = keyPrefix('limits-failover');
    const logger = recordingLogger();
    const [a, b] = [0, 1].map(() => gate({ redis: cluster.url, prefix, maxPerIp: 2, logger }));
    const ip = '198.51.100.31';
    expect(isRejection(await a!.acquire(fakeRequest('198.51.100.30')))).toBe(false);

    const outage = await killMasterOf(cluster, `${prefix}ip:${ip}`);
    // Each instance now allows 2 on its own; never none, never unlimited.
    const onA = await Promise.all([1, 2, 3].map(() => a!.acquire(fakeRequest(ip))));
    const onB = await Promise.all([1, 2, 3].map(() => b!.acquire(fakeRequest(ip))));
    expect(onA.filter((r) => !isRejection(r))).toHaveLength(2);
    expect(onB.filter((r) => !isRejection(r))).toHaveLength(2);
    expect(a!.stats().degraded).toBe(true);
    expect(logger.lines.filter((l) => l.includes('redis unavailable'))).toHaveLength(2);

    await outage.settled();
    await waitFor(
      'a to share again',
      async () => {
        await a!.acquire(fakeRequest('198.51.100.32'));
        return !a!.stats().degraded;
      },
      15_000,
    );
    expect(logger.lines.some((l) => l.includes('redis is back'))).toBe(true);
    // Shared again: two instances allow 2 in total for a client on the promoted master.
    const after = await Promise.all(
      [a, b, a, b].map((g) => g!.acquire(fakeRequest('198.51.100.31'))),
    );
    expect(after.filter((r) => !isRejection(r)).length).toBeLessThanOrEqual(2);
  });

  it('counts requests per instance while the master is away, says so once, and shares again after the failover', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const prefix = keyPrefix('rl-failover');
    const logger = recordingLogger();
    // Every request here counts as one client's, whose key is `${prefix}client`.
    const options = { redis: cluster.url, prefix, limit: 3, logger, keyGenerator: () => 'client' };
    const [one, two] = [app(options), app({ ...options, redis: { cluster: cluster.seeds } })];
    await request(one).get('/').expect(200);

    const outage = await killMasterOf(cluster, `${prefix}client`);
    for (const instance of [one, two]) {
      for (let i = 0; i < 3; i++) await request(instance).get('/').expect(200);
      await request(instance).get('/').expect(429);
    }
    const warnings = logger.lines.filter((l) => l.startsWith('warn limits: redis unavailable'));
    expect(warnings).toHaveLength(2); // once per instance
    expect(warnings[0]).toMatch(/counts per instance until it is back/);

    await outage.settled();
    await waitFor(
      'one to count in Redis again',
      async () => {
        await request(one).get('/');
        return logger.lines.some((l) => l.includes('shared again'));
      },
      15_000,
    );
  });
});

describe('limits on a cluster that cannot serve', () => {
  it('counts per instance while slots are uncovered, saying why, and shares again once they are served', async () => {
    // No replicas: a killed master leaves its slots uncovered, and the cluster refuses every
    // command (CLUSTERDOWN) until the master is back.
    const cluster = await startCluster({ replicas: 0 });
    cleanups.push(() => cluster.stop());
    const logger = recordingLogger();
    const prefix = keyPrefix('limits-uncovered');
    const limiter = gate({ redis: cluster.url, prefix, maxPerIp: 1, logger });
    expect(isRejection(await limiter.acquire(fakeRequest('198.51.100.80')))).toBe(false);
    const master = (await cluster.masters())[0]!;
    await master.server.kill();
    await waitFor(
      'the limiter to count per instance',
      async () => {
        await limiter.acquire(fakeRequest('198.51.100.81'));
        return limiter.stats().degraded;
      },
      15_000,
    );
    // In ioredis's words, what it met last: "Too many Cluster redirections. Last error:
    // ReplyError: CLUSTERDOWN The cluster is down", "…: Connection is closed." or "…: Command
    // timed out", as the lost master's connection goes.
    expect(logger.lines.join('\n')).toMatch(/redis unavailable \(.+\); counting per instance/);

    expect(isRejection(await limiter.acquire(fakeRequest('198.51.100.82')))).toBe(false);
    expect(await limiter.acquire(fakeRequest('198.51.100.82'))).toMatchObject({ status: 429 });

    await master.server.restart();
    await waitFor(
      'the limiter to share again',
      async () => {
        await limiter.acquire(fakeRequest('198.51.100.83'));
        return !limiter.stats().degraded;
      },
      20_000,
    );
    expect(logger.lines.some((l) => l.includes('redis is back'))).toBe(true);
  });
});

describe('limits on a cluster that cannot be reached', () => {
  it('counts per instance and says why, rather than hang', async () => {
    const logger = recordingLogger();
    const nowhere = 'redis-cluster://127.0.0.1:1,127.0.0.1:2';
    const limiter = gate({ redis: nowhere, maxPerIp: 1, logger });
    const started = Date.now();
    expect(isRejection(await limiter.acquire(fakeRequest('198.51.100.50')))).toBe(false);
    expect(await limiter.acquire(fakeRequest('198.51.100.50'))).toMatchObject({ status: 429 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(limiter.stats().degraded).toBe(true);
    expect(logger.lines.join('\n')).toMatch(/redis unavailable \(.+\); counting per instance/);

    const limited = app({ redis: nowhere, prefix: keyPrefix('rl-nowhere'), limit: 1, logger });
    await request(limited).get('/').expect(200);
    await request(limited).get('/').expect(429);
    expect(logger.lines.join('\n')).toMatch(/rate limit ".+" counts per instance/);
  });
});

describe('limits options', () => {
  it('refuses a cluster or Sentinel source that can never work, naming it', () => {
    expect(() => connectionLimit({ redis: { cluster: [] }, logger: false })).toThrow(
      /redis.cluster must list at least one node/,
    );
    expect(() => rateLimit({ redis: 'redis-sentinel://127.0.0.1:26379' })).toThrow(
      /ends with the master's name/,
    );
    expect(() => rateLimit({ redis: 'redis-cluster://127.0.0.1:99999' })).toThrow(
      /is not a host:port/,
    );
    expect(() => rateLimit({ redis: 'http://x' })).toThrow(LimitsOptionError);
  });
});
