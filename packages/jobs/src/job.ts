import { performance } from 'node:perf_hooks';
import {
  describeRedisError,
  type Leadership,
  type LeadershipEvents,
  RedisLease,
  SoleLeadership,
  ThrottledLog,
} from '@bancada/internal';
import { type JobMetrics, jobMetrics, type RunOutcome } from './metrics.js';
import type { ResolvedJobOptions } from './options.js';
import { RedisRunClaim } from './redis-run-claim.js';
import { jobKeys, LocalRunClaim, NOT_HOLDER, type RunClaim } from './run-claim.js';
import type { JobStats } from './stats.js';

/**
 * One periodic job on one instance. Among the instances that share its Redis, prefix and
 * name, the holder of the lease runs it, and only when the record of the last run (in Redis)
 * says the period is over: so a new leader right after a run waits, and a run is never
 * recorded by an instance whose lease ran out.
 */
export class Job {
  readonly name: string;
  readonly instanceId: string;
  private readonly leadership: Leadership;
  private readonly record: RunClaim;
  private readonly log: ThrottledLog;
  private readonly metrics: JobMetrics | undefined;
  /** How soon to ask again after a failed or refused claim. */
  private readonly retryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private claiming: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private controller: AbortController | undefined;
  private stopping: Promise<void> | undefined;
  private lastRunAt: Date | undefined;
  private readonly counts = { runs: 0, failures: 0, aborted: 0 };

  constructor(private readonly o: ResolvedJobOptions) {
    this.name = o.name;
    this.instanceId = o.instanceId;
    this.log = new ThrottledLog(o.logger);
    this.retryMs = Math.floor(o.leaseMs / 3);
    // First, since it may refuse the name: before any connection is opened.
    this.metrics = o.registry
      ? jobMetrics(o.registry, o.name, () => this.leadership.holds())
      : undefined;
    const events: LeadershipEvents = {
      gained: () => this.tick(),
      lost: (reason) => this.lost(reason),
    };
    if (o.redis === undefined) {
      this.leadership = new SoleLeadership(o.instanceId, events);
      this.record = new LocalRunClaim(o.everyMs);
    } else {
      const keys = jobKeys(o.prefix, o.name);
      this.leadership = new RedisLease({
        source: o.redis,
        key: keys.leader,
        id: o.instanceId,
        leaseMs: o.leaseMs,
        label: `jobs: ${o.name}:`,
        logger: o.logger,
        events,
      });
      this.record = new RedisRunClaim({
        source: o.redis,
        keys,
        id: o.instanceId,
        everyMs: o.everyMs,
        commandTimeoutMs: this.retryMs,
        onReady: () => this.tick(),
      });
    }
    this.leadership.start();
  }

  stats(): JobStats {
    return {
      name: this.name,
      instanceId: this.instanceId,
      mode: this.leadership.mode === 'lease' ? 'redis' : 'local',
      leader: this.leadership.holds(),
      leaderId: this.leadership.holder,
      running: this.running !== undefined,
      ...this.counts,
      lastRunAt: this.lastRunAt,
    };
  }

  /**
   * Stops the job on this instance: aborts the signal of a run in progress and waits for
   * that run to end, then gives the lead back, so that another instance takes over at its
   * next try (within a third of `leaseMs`) and never overlaps with the run. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.controller?.abort(abortReason('the job was stopped'));
    await this.running;
    // A claim on its way finishes first (within its timeout): the lease must not go before.
    await this.claiming;
    await this.leadership.close();
    await this.record.close();
    this.metrics?.unregister();
  }

  /** Asks for a run now if this instance leads and nothing is in progress. */
  private tick(): void {
    if (this.stopping || this.claiming || this.running) return;
    clearTimeout(this.timer);
    if (!this.leadership.holds() || !this.record.ready) return;
    this.claiming = this.record.claim().then(
      (left) => {
        this.claiming = undefined;
        this.claimed(left);
      },
      (error: unknown) => {
        this.claiming = undefined;
        const why = describeRedisError(error);
        this.log.error(
          `claim:${why}`,
          `jobs: ${this.name}: could not check the last run in Redis (${why}); not run, trying again`,
        );
        this.later(this.retryMs);
      },
    );
  }

  private claimed(left: number): void {
    if (this.stopping) return;
    if (left !== 0) {
      // Not the holder in Redis: the lease notices at its next renewal. Else: too soon.
      this.later(left === NOT_HOLDER ? this.retryMs : left);
      return;
    }
    // Asked again by the clock right before the run: a leader whose event loop stalled past
    // its lease must not run after another may have taken over.
    if (!this.leadership.holds()) {
      this.o.logger.warn(
        `jobs: ${this.name}: ${this.instanceId}: lost the lead as this run was due; not run`,
      );
      return;
    }
    this.run();
  }

  private run(): void {
    const controller = new AbortController();
    const dueAt = performance.now() + this.o.everyMs;
    this.controller = controller;
    this.counts.runs++;
    this.lastRunAt = new Date();
    this.running = (async () => this.o.fn(controller.signal))()
      .then(
        () => this.ended('ok'),
        (error: unknown) => this.ended(controller.signal.aborted ? 'aborted' : 'failed', error),
      )
      .finally(() => {
        this.running = undefined;
        this.controller = undefined;
        // The next run is due a period after this one started, and never before it ended.
        if (!this.stopping) this.later(Math.max(0, dueAt - performance.now()));
      });
  }

  private ended(outcome: RunOutcome, error?: unknown): void {
    this.metrics?.ran(outcome);
    if (outcome === 'ok') return;
    if (outcome === 'aborted') {
      this.counts.aborted++;
      return;
    }
    this.counts.failures++;
    const message = (error as Error)?.message ?? String(error);
    this.log.error(
      'failed',
      `jobs: ${this.name}: the run failed: ${message} (counted in failures; the job goes on)`,
    );
  }

  private lost(reason: string): void {
    clearTimeout(this.timer);
    this.controller?.abort(abortReason(`this instance lost the lead: ${reason}`));
  }

  private later(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopping) return;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }
}

/** What `signal.reason` is: an AbortError, as `fetch` and timers' own aborts are. */
function abortReason(message: string): DOMException {
  return new DOMException(message, 'AbortError');
}
