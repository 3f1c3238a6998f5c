import { performance } from 'node:perf_hooks';

/** What `claim()` resolves when Redis says another instance holds the lease. */
export const NOT_HOLDER = -1;

/**
 * The record of the last run, which decides whether a run may start: the lease says who
 * may run the job, this says when.
 */
export interface RunClaim {
  /** False while a claim cannot be asked (its connection is down); `onReady` says when it can. */
  readonly ready: boolean;
  /**
   * Records a run as starting now and resolves 0 when the period since the last one (on any
   * instance) is over; otherwise resolves how many ms are left, or NOT_HOLDER.
   */
  claim(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The keys of one job. One hash tag for both, so that the claim script may touch them
 * together on a Redis Cluster; the prefix stays in front, where key patterns (ACLs, SCAN)
 * look for it.
 */
export function jobKeys(prefix: string, name: string): { leader: string; last: string } {
  const tagged = `${prefix}{jobs:${name}}`;
  return { leader: `${tagged}:leader`, last: `${tagged}:last` };
}

/** No Redis: the last run is remembered in this process, on the monotonic clock. */
export class LocalRunClaim implements RunClaim {
  readonly ready = true;
  private last: number | undefined;

  constructor(private readonly everyMs: number) {}

  async claim(): Promise<number> {
    const now = performance.now();
    if (this.last !== undefined && now - this.last < this.everyMs) {
      return Math.ceil(this.everyMs - (now - this.last));
    }
    this.last = now;
    return 0;
  }

  async close(): Promise<void> {}
}
