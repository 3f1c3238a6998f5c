import { describe, expect, it } from 'vitest';
import { resolveJobOptions } from '../src/options.js';
import { gaps, type Run, recordingLogger, startJob, waitFor } from './helpers/jobs.js';

describe('everyOnce without Redis', () => {
  it('runs the job on this instance, once per period, and says once that it runs here only', async () => {
    const logger = recordingLogger();
    const runs: Run[] = [];
    const job = startJob('tidy', 1000, () => void runs.push({ by: 'here', at: Date.now() }), {
      redis: false,
      logger,
      instanceId: 'solo',
    });

    await waitFor('three runs', () => runs.length >= 3, 10_000);
    expect(job.stats()).toMatchObject({ mode: 'local', leader: true, leaderId: 'solo' });
    for (const gap of gaps(runs)) expect(gap).toBeGreaterThanOrEqual(990);
    expect(logger.lines).toEqual([
      'info jobs: tidy: every 1000 ms on this instance only (no Redis: every instance that starts this job runs it)',
    ]);
  });

  it('takes Redis from REDIS_URL, and runs locally when it is unset or empty', () => {
    const job = () => {};
    const redisOf = (env: NodeJS.ProcessEnv) =>
      resolveJobOptions('tidy', 1000, job, { logger: false }, env).redis;
    expect(redisOf({})).toBeUndefined();
    expect(redisOf({ REDIS_URL: '' })).toBeUndefined();
    expect(redisOf({ REDIS_URL: 'redis://cache:6379' })).toBe('redis://cache:6379');
    expect(
      resolveJobOptions('tidy', 1000, job, { redis: false }, { REDIS_URL: 'redis://cache:6379' })
        .redis,
    ).toBeUndefined();
  });

  it('stops between runs at once, and runs nothing after stop()', async () => {
    let runs = 0;
    const job = startJob('once', 1000, () => void runs++, { redis: false });
    await waitFor('the first run', () => runs === 1);
    await job.stop();
    await job.stop(); // idempotent
    expect(job.stats()).toMatchObject({ leader: false, running: false, runs: 1 });
  });
});
