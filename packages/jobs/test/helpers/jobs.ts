import { afterThisTest, cleanupPrefix, keyPrefix, redisUrl } from '@bancada/testkit';
import { everyOnce, type Job } from '../../src/index.js';
import type { EveryOnceOptions, JobFn } from '../../src/options.js';

export { afterThisTest, recordingLogger, waitFor } from '@bancada/testkit';

/** A run as the job's function saw it start: which instance, and when (Date.now()). */
export interface Run {
  by: string;
  at: number;
}

/** The shared test Redis and a fresh prefix, removed after the test. */
export async function sharedRedis(): Promise<{ redis: string; prefix: string }> {
  const redis = await redisUrl();
  const prefix = keyPrefix('jobs');
  afterThisTest(() => cleanupPrefix(redis, prefix));
  return { redis, prefix };
}

/** everyOnce with quiet defaults, stopped after the test. */
export function startJob(
  name: string,
  everyMs: number,
  fn: JobFn,
  options: EveryOnceOptions = {},
): Job {
  const job = everyOnce(name, everyMs, fn, { logger: false, ...options });
  afterThisTest(() => job.stop());
  return job;
}

/**
 * `count` instances of one job on one Redis and prefix, as `count` processes of an app would
 * start it; each run is pushed to `runs`, then `work` (if any) runs.
 */
export function startInstances(
  count: number,
  name: string,
  everyMs: number,
  runs: Run[],
  options: EveryOnceOptions,
  work: (signal: AbortSignal) => unknown = () => {},
): Job[] {
  return Array.from({ length: count }, (_, i) => {
    const instanceId = `instance-${i + 1}`;
    return startJob(
      name,
      everyMs,
      (signal) => {
        runs.push({ by: instanceId, at: Date.now() });
        return work(signal);
      },
      { instanceId, ...options },
    );
  });
}

/** The time between each run and the next, in order. */
export function gaps(runs: Run[]): number[] {
  const at = runs.map((r) => r.at).sort((a, b) => a - b);
  return at.slice(1).map((t, i) => t - at[i]!);
}

/** Resolves after `ms`: the length of a job's own work, or of an outage, never a wait for a condition. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
