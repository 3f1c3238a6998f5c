import { recordingLogger, startCluster, startSentinel, waitFor } from '@bancada/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisLease, type RedisSource } from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `count` instances competing for one lease, with a watch on how many hold it at once. */
function competitors(source: RedisSource, key: string, count = 3) {
  const logger = recordingLogger();
  const leases = Array.from({ length: count }, (_, i) => {
    const lease = new RedisLease({
      source,
      key,
      id: `instance-${i + 1}`,
      leaseMs: 1000,
      label: 'test',
      logger,
      events: { gained() {}, lost() {} },
    });
    lease.start();
    cleanups.push(() => lease.close());
    return lease;
  });
  let mostAtOnce = 0;
  const watch = setInterval(() => {
    mostAtOnce = Math.max(mostAtOnce, leases.filter((l) => l.holds()).length);
  }, 5);
  cleanups.push(() => clearInterval(watch));
  const leaders = () => leases.filter((l) => l.holds());
  return { leases, logger, leaders, mostAtOnce: () => mostAtOnce };
}

describe('RedisLease through a Sentinel failover', () => {
  it('has one leader before, none twice at once during, and one again after the failover', async () => {
    const sentinel = await startSentinel();
    cleanups.push(() => sentinel.stop());
    const { leaders, mostAtOnce, logger } = competitors(sentinel.url, 'lease:sentinel');
    await waitFor('a leader', () => leaders().length === 1, 10_000);

    await sentinel.failover();
    await waitFor('a leader after the failover', () => leaders().length === 1, 20_000);
    // Settled: the lead stays with one instance for several lease periods.
    const settled = leaders()[0]!;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(leaders()).toEqual([settled]);
    expect(mostAtOnce()).toBe(1);
    expect(logger.lines.join('\n')).not.toMatch(/max retries per request/i);
  });

  it('never leads on a master name the Sentinels do not know, saying why, and closes at once', async () => {
    const sentinel = await startSentinel({ replicas: 1 });
    cleanups.push(() => sentinel.stop());
    const url = sentinel.url.replace(/\/mymaster$/, '/nosuchmaster');
    const { leases, leaders, logger } = competitors(url, 'lease:nosuchmaster', 1);
    await waitFor('the error to be logged', () =>
      logger.lines.some((line) => line.includes('test lease: redis error')),
    );
    // ioredis's words: "All sentinels are unreachable. … Last error: ERR No such master with that name".
    expect(logger.lines.join('\n')).toContain('No such master with that name');
    expect(leaders()).toHaveLength(0);
    const closing = Date.now();
    await leases[0]!.close();
    expect(Date.now() - closing).toBeLessThan(2000);
  });
});

describe('RedisLease on a Redis Cluster', () => {
  it('has one leader, and one again after the master of its key fails over', async () => {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const { leaders, mostAtOnce } = competitors(cluster.url, 'lease:cluster');
    await waitFor('a leader', () => leaders().length === 1, 10_000);

    await cluster.failover(await cluster.masterOf('lease:cluster'));
    await waitFor('a leader after the failover', () => leaders().length === 1, 20_000);
    const settled = leaders()[0]!;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(leaders()).toEqual([settled]);
    expect(mostAtOnce()).toBe(1);
  });
});
