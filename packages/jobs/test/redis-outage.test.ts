import { startRedis } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import {
  afterThisTest,
  pause,
  type Run,
  recordingLogger,
  startInstances,
  waitFor,
} from './helpers/jobs.js';

const SLOW = 20_000;

describe('everyOnce when Redis goes away', () => {
  it('runs the job nowhere while Redis is away, the leader stepping down by itself, and again once it is back', async () => {
    const server = await startRedis();
    afterThisTest(() => server.stop());
    const logger = recordingLogger();
    const runs: Run[] = [];
    const jobs = startInstances(2, 'outage', 1000, runs, {
      redis: server.url,
      leaseMs: 1000,
      logger,
    });
    await waitFor('a run', () => runs.length >= 1, SLOW);

    await server.kill();
    await waitFor('no instance to lead', () => jobs.every((job) => !job.stats().leader), 5000);
    const before = runs.length;
    await pause(3000); // the outage: three periods
    expect(runs).toHaveLength(before);

    await server.restart();
    await waitFor('a run after Redis is back', () => runs.length > before, SLOW);
    expect(logger.lines.some((line) => line.includes('lost the leader lease'))).toBe(true);
    // Said in our words: the connection is down, not a setting to change.
    expect(logger.lines.join('\n')).not.toMatch(/maxRetriesPerRequest|max retries per request/i);
  });
});
