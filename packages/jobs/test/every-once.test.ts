import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { JobsOptionError } from '../src/index.js';
import {
  afterThisTest,
  gaps,
  pause,
  type Run,
  recordingLogger,
  sharedRedis,
  startInstances,
  startJob,
  waitFor,
} from './helpers/jobs.js';

/**
 * Runs are timed where the job's function starts, a little after Redis recorded them: two
 * runs a period apart can look this much closer on a busy machine. A second run by a new
 * leader would come far sooner (within a third of the lease).
 */
const SLACK = 250;
/** Generous: the machine is small and shared. */
const SLOW = 20_000;

describe('everyOnce across instances', () => {
  it('runs the job once per period between three instances, over several periods', async () => {
    const { redis, prefix } = await sharedRedis();
    const runs: Run[] = [];
    const jobs = startInstances(3, 'sweep', 1000, runs, { redis, prefix });

    await waitFor('six runs', () => runs.length >= 6, SLOW);
    await Promise.all(jobs.map((job) => job.stop()));

    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(1000 - SLACK);
    const stats = jobs.map((job) => job.stats());
    expect(stats.every((s) => s.mode === 'redis')).toBe(true);
    // Each run was counted by the instance that made it, and by no other.
    expect(stats.reduce((sum, s) => sum + s.runs, 0)).toBe(runs.length);
  });

  it('does not run the job again before the period is over when the lead changes right after a run', async () => {
    const { redis, prefix } = await sharedRedis();
    const runs: Run[] = [];
    const jobs = startInstances(3, 'report', 4000, runs, { redis, prefix, leaseMs: 1000 });
    await waitFor('the first run', () => runs.length === 1, SLOW);
    const first = runs[0]!;
    const leader = jobs.find((job) => job.instanceId === first.by)!;

    // A deploy stops the instance that just ran the job: it hands the lead over at once.
    await leader.stop();
    const others = jobs.filter((job) => job !== leader);
    await waitFor('another instance to lead', () => others.some((j) => j.stats().leader), SLOW);
    const tookOverAfter = Date.now() - first.at;
    expect(tookOverAfter).toBeLessThan(4000 - SLACK);
    expect(runs).toHaveLength(1);

    await waitFor('the second run', () => runs.length === 2, SLOW);
    const second = runs[1]!;
    expect(second.by).not.toBe(first.by);
    expect(second.at - first.at).toBeGreaterThanOrEqual(4000 - SLACK);
    // ...and not much later: at least once per period plus the lease.
    expect(second.at - first.at).toBeLessThan(4000 + 1000 + 3000);
  });

  it('does not overlap a run that takes longer than the period, on any instance', async () => {
    const { redis, prefix } = await sharedRedis();
    const runs: Run[] = [];
    let active = 0;
    let mostAtOnce = 0;
    startInstances(2, 'slow', 1000, runs, { redis, prefix }, async () => {
      active++;
      mostAtOnce = Math.max(mostAtOnce, active);
      await pause(2500); // the job's own work, longer than its period
      active--;
    });

    await waitFor('three runs', () => runs.length >= 3, SLOW);
    expect(mostAtOnce).toBe(1);
    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(2500);
  });

  it('logs a run that throws, counts it, and goes on running the job', async () => {
    const { redis, prefix } = await sharedRedis();
    const logger = recordingLogger();
    let calls = 0;
    const job = startJob(
      'flaky',
      1000,
      () => {
        calls++;
        if (calls === 1) throw new Error('the printer is offline');
      },
      { redis, prefix, logger },
    );

    await waitFor('a run after the failed one', () => job.stats().runs >= 2, SLOW);
    expect(job.stats()).toMatchObject({ failures: 1, aborted: 0 });
    const failures = logger.lines.filter((line) => line.includes('the run failed'));
    expect(failures).toEqual([
      'error jobs: flaky: the run failed: the printer is offline (counted in failures; the job goes on)',
    ]);
  });

  it('stop() aborts the signal of a run in progress, waits for the run to end, and hands the lead over', async () => {
    const { redis, prefix } = await sharedRedis();
    const runs: Run[] = [];
    let cleanedUp = false;
    let reason: unknown;
    const jobs = startInstances(2, 'export', 5000, runs, { redis, prefix }, async (signal) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      reason = signal.reason;
      await pause(300); // cleaning up after the abort
      cleanedUp = true;
    });
    await waitFor('a run in progress', () => jobs.some((job) => job.stats().running), SLOW);
    const running = jobs.find((job) => job.stats().running)!;
    const other = jobs.find((job) => job !== running)!;

    await running.stop();
    expect(cleanedUp).toBe(true);
    expect(reason).toMatchObject({ name: 'AbortError', message: 'the job was stopped' });
    expect(running.stats()).toMatchObject({ running: false, leader: false, aborted: 0 });
    // The lead was given back, not left to expire: the other instance takes it at its next try.
    await waitFor('the other instance to lead', () => other.stats().leader, 5000);
    expect(runs).toHaveLength(1); // and it waits for the rest of the period
  });

  it('aborts the signal of a run when another instance takes the lead', async () => {
    const { redis, prefix } = await sharedRedis();
    let reason: unknown;
    const job = startJob(
      'rebuild',
      5000,
      async (signal) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        reason = signal.reason;
        throw signal.reason;
      },
      { redis, prefix, leaseMs: 1000 },
    );
    await waitFor('a run in progress', () => job.stats().running, SLOW);

    // What a takeover looks like from here: the lease key names someone else.
    const client = new Redis(redis);
    afterThisTest(() => client.quit());
    await client.set(`${prefix}{jobs:rebuild}:leader`, 'someone-else', 'PX', 10_000);

    await waitFor('the run to be aborted', () => !job.stats().running, 5000);
    expect(reason).toMatchObject({ name: 'AbortError' });
    expect(String((reason as Error).message)).toMatch(/lost the lead: another instance holds/);
    expect(job.stats()).toMatchObject({ leader: false, runs: 1, aborted: 1, failures: 0 });
  });

  it('reports runs and the leader to a registry, and refuses a second job of the same name on it', async () => {
    const { redis, prefix } = await sharedRedis();
    const registry = new Registry();
    const job = startJob('tally', 1000, () => {}, { redis, prefix, registry });
    await waitFor('two runs', () => job.stats().runs >= 2, SLOW);

    const text = await registry.metrics();
    expect(text).toMatch(/bancada_jobs_runs_total\{job="tally",outcome="ok"\} [2-9]/);
    expect(text).toContain('bancada_jobs_leader{job="tally"} 1');
    expect(() => startJob('tally', 1000, () => {}, { redis, prefix, registry })).toThrow(
      new JobsOptionError(
        'a job named "tally" already reports to this registry: give each job its own name',
      ),
    );
    await job.stop();
    expect((await registry.metrics()).trim()).toBe(''); // the metrics left with the last job
  });
});
