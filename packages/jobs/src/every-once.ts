import { describeTopology, topologyOf } from '@bancada/internal';
import { Job } from './job.js';
import { type EveryOnceOptions, type JobFn, resolveJobOptions } from './options.js';
import { jobKeys } from './run-claim.js';

/**
 * Runs `fn` every `everyMs` on exactly one of the instances that share a Redis (`REDIS_URL`
 * by default), where `setInterval` would run it on each: at most once per period, and at
 * least once per period plus `leaseMs` while Redis is up. The first run is at once, unless
 * the job ran less than a period ago (on any instance). A run that takes longer than the
 * period delays the next; runs never overlap. Without Redis, this instance runs it alone,
 * and says so once.
 *
 * @example
 * const sweep = everyOnce('close-stale-tabs', 60_000, async (signal) => {
 *   await pool.query("UPDATE tabs SET status = 'closed' WHERE opened_at < now() - interval '12 hours'");
 * });
 * // on shutdown: await sweep.stop();
 */
export function everyOnce(
  name: string,
  everyMs: number,
  fn: JobFn,
  options?: EveryOnceOptions,
): Job {
  const o = resolveJobOptions(name, everyMs, fn, options);
  const job = new Job(o);
  o.logger.info(
    o.redis === undefined
      ? `jobs: ${o.name}: every ${o.everyMs} ms on this instance only (no Redis: ` +
          'every instance that starts this job runs it)'
      : `jobs: ${o.name}: every ${o.everyMs} ms, once across instances ` +
          `(lease ${jobKeys(o.prefix, o.name).leader} on ${describeTopology(topologyOf(o.redis))}), ` +
          `this is ${o.instanceId}`,
  );
  return job;
}
