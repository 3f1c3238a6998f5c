import { startCluster, startSentinel } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import {
  afterThisTest,
  gaps,
  type Run,
  recordingLogger,
  startInstances,
  waitFor,
} from './helpers/jobs.js';

/** As in every-once.test.ts: the function starts a little after Redis recorded the run. */
const SLACK = 250;
const SLOW = 30_000;

describe('everyOnce on a Redis Cluster', () => {
  it('runs the job once per period across two instances, and says at start that it runs on a cluster', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const logger = recordingLogger();
    const runs: Run[] = [];
    const jobs = startInstances(2, 'cluster-sweep', 1000, runs, { redis: cluster.url, logger });

    await waitFor('four runs', () => runs.length >= 4, SLOW);
    await Promise.all(jobs.map((job) => job.stop()));

    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(1000 - SLACK);
    expect(jobs.reduce((sum, job) => sum + job.stats().runs, 0)).toBe(runs.length);
    expect(logger.lines.some((line) => line.includes('on redis cluster'))).toBe(true);
  });

  it('keeps running once per period when the master of its keys fails over', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const runs: Run[] = [];
    const jobs = startInstances(2, 'cluster-failover', 1000, runs, {
      redis: { cluster: cluster.seeds },
      leaseMs: 1000,
    });
    await waitFor('a run', () => runs.length >= 1, SLOW);

    await cluster.failover(await cluster.masterOf('{jobs:cluster-failover}'));
    const after = runs.length;
    await waitFor('two runs after the failover', () => runs.length >= after + 2, SLOW);
    await Promise.all(jobs.map((job) => job.stop()));
    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(1000 - SLACK);
  });

  it('does not hang on a seed list where nothing answers: it runs nothing and says why', async () => {
    const logger = recordingLogger();
    const runs: Run[] = [];
    const [job] = startInstances(1, 'nowhere', 1000, runs, {
      redis: 'redis-cluster://127.0.0.1:1,127.0.0.1:2',
      logger,
    });
    await waitFor('the error to be logged', () =>
      logger.lines.some((line) => /lease: redis error/.test(line)),
    );
    expect(runs).toHaveLength(0);
    expect(job!.stats().leader).toBe(false);
    await job!.stop();
  });
});

describe('everyOnce through Redis Sentinel', () => {
  it('runs the job once per period across two instances, before and after a failover', async () => {
    const sentinel = await startSentinel();
    afterThisTest(() => sentinel.stop());
    const logger = recordingLogger();
    const runs: Run[] = [];
    const jobs = startInstances(2, 'sentinel-sweep', 1000, runs, {
      redis: sentinel.url,
      leaseMs: 1000,
      logger,
    });
    await waitFor('two runs', () => runs.length >= 2, SLOW);
    expect(logger.lines.some((line) => line.includes('on redis sentinel mymaster'))).toBe(true);

    await sentinel.failover();
    const after = runs.length;
    await waitFor('two runs after the failover', () => runs.length >= after + 2, SLOW);
    await Promise.all(jobs.map((job) => job.stop()));
    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(1000 - SLACK);
  });
});
