import { performance } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from './logger.js';
import {
  closeOwnConnection,
  describeRedisError,
  openOwnClient,
  type RedisSource,
} from './redis-connection.js';
import { ThrottledLog } from './throttled-log.js';

/** What a leadership tells its owner. */
export interface LeadershipEvents {
  /** This instance is now the one that acts. */
  gained(): void;
  /** It no longer is: stop at once. */
  lost(reason: string): void;
}

/** Who acts: the holder of a lease in Redis among instances, or this instance alone. */
export interface Leadership {
  readonly mode: 'lease' | 'single';
  /** The instance that holds the lease, as last seen (this one's id when leader). */
  readonly holder: string | undefined;
  /**
   * True while this instance may act: it is the leader and, by its own clock, its lease has
   * not run out. Ask before every act, so that a leader whose timers ran late (a stalled
   * event loop) still never acts after another may have taken over.
   */
  holds(): boolean;
  start(): void;
  close(): Promise<void>;
}

export interface RedisLeaseOptions {
  source: RedisSource;
  key: string;
  /** This instance's id: the value of the key while it leads. */
  id: string;
  leaseMs: number;
  /** Who holds the lease, in log lines: `<label> <id>: leader (lease <key>)`. */
  label: string;
  logger: Logger;
  events: LeadershipEvents;
}

/** Extends the lease only if it is still ours: a renewal never revives someone else's key. */
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes the lease only if it is still ours. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

/**
 * A leader lease in Redis: `SET key id NX PX leaseMs` to take it, an atomic
 * compare-and-extend every third of the lease to keep it, compare-and-delete to give it
 * back on `close()`. Followers try again every third of the lease (sooner when the key is
 * about to expire), so a leader that stops renewing (its process died) is replaced within
 * about `leaseMs`.
 *
 * The leader counts its lease from when it *sent* the command, less a tenth for clock rate
 * differences, on the monotonic clock, so it always believes its lease ends before Redis
 * does: when Redis cannot be reached, the leader steps down before any follower can take
 * over, and two leaders never publish the same notification.
 */
export class RedisLease implements Leadership {
  readonly mode = 'lease' as const;
  private readonly redis: Redis | Cluster;
  private readonly intervalMs: number;
  private readonly marginMs: number;
  private readonly log: ThrottledLog;
  private leader = false;
  /** performance.now() after which this instance no longer counts as leader. */
  private validUntil = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The tick in progress: one lease command at a time, and close() waits for it. */
  private inFlight: Promise<void> | undefined;
  private started = false;
  private closed = false;
  private lastHolder: string | undefined;

  constructor(private readonly o: RedisLeaseOptions) {
    this.intervalMs = Math.floor(o.leaseMs / 3);
    this.marginMs = Math.ceil(o.leaseMs / 10);
    this.log = new ThrottledLog(o.logger);
    // Besides failing fast while Redis is away, a command that has not answered by the next
    // tick is given up: a lease command is never answered late (a late renewal would be
    // worse than none).
    // One key, so one slot: the same commands on a Cluster (on the key's master) and through
    // Sentinel (on the master of the moment).
    this.redis = openOwnClient(o.source, {
      name: 'bancada-lease',
      extra: { commandTimeout: this.intervalMs },
    });
    this.redis.on('error', (error: Error) => this.logError(error));
    this.redis.on('ready', () => this.tickNow());
  }

  get holder(): string | undefined {
    return this.lastHolder;
  }

  holds(): boolean {
    return this.leader && performance.now() < this.validUntil;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.tickNow();
  }

  /** Stops trying, and gives the lease back if it is still ours (the next leader need not wait). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leader = false;
    this.validUntil = 0;
    clearTimeout(this.tickTimer);
    clearTimeout(this.expiryTimer);
    // An acquire still on its way could land after the release below: let it finish first
    // (at most one command timeout).
    await this.inFlight;
    if (this.redis.status === 'ready') {
      // Compare-and-delete also when we think we are not leader: a late acquire may have landed.
      await this.redis
        .eval(RELEASE, 1, this.o.key, this.o.id)
        .catch((error: Error) => this.logError(error));
    }
    await closeOwnConnection(this.redis);
  }

  private tickNow(): void {
    if (!this.started || this.closed || this.inFlight) return;
    clearTimeout(this.tickTimer);
    this.inFlight = this.tick().then((nextMs) => {
      this.inFlight = undefined;
      if (this.closed) return;
      this.tickTimer = setTimeout(() => this.tickNow(), nextMs);
      this.tickTimer.unref();
    });
  }

  /** One lease command (or none while disconnected); resolves with the delay to the next. */
  private async tick(): Promise<number> {
    if (this.leader && !this.holds()) {
      this.stepDown('could not renew it in time: Redis unreachable or too slow');
    }
    // Not connected: nothing to send (the connection logs its own errors, and its next
    // 'ready' ticks at once); a leader's expiry timer decides meanwhile.
    if (this.redis.status !== 'ready') return this.intervalMs;
    try {
      return this.leader ? await this.renew() : await this.tryAcquire();
    } catch (error) {
      // Redis away or slow: a leader's expiry timer decides; a follower tries again later.
      this.logError(error as Error);
      return this.intervalMs;
    }
  }

  private async renew(): Promise<number> {
    const sentAt = performance.now();
    const extended = await this.redis.eval(EXTEND, 1, this.o.key, this.o.id, this.o.leaseMs);
    // Stepped down meanwhile (expiry timer): the next follower tick adopts the key if ours.
    if (this.closed || !this.leader) return 0;
    if (extended === 1) this.keepUntil(sentAt + this.o.leaseMs - this.marginMs);
    else this.stepDown('another instance holds the lease');
    return this.intervalMs;
  }

  private async tryAcquire(): Promise<number> {
    const sentAt = performance.now();
    const set = await this.redis.set(this.o.key, this.o.id, 'PX', this.o.leaseMs, 'NX');
    if (this.closed) return this.intervalMs;
    if (set === 'OK') {
      this.becomeLeader(sentAt);
      return this.intervalMs;
    }
    const holder = await this.redis.get(this.o.key);
    if (this.closed) return this.intervalMs;
    if (holder === this.o.id) {
      // Ours already: an earlier command that timed out here still reached Redis.
      const adoptedAt = performance.now();
      const extended = await this.redis.eval(EXTEND, 1, this.o.key, this.o.id, this.o.leaseMs);
      if (extended === 1 && !this.closed) this.becomeLeader(adoptedAt);
      return this.intervalMs;
    }
    if (holder !== null && holder !== this.lastHolder) {
      this.lastHolder = holder;
      this.o.logger.info(`${this.o.label} ${this.o.id}: follower; ${holder} is the leader`);
    }
    const ttl = await this.redis.pttl(this.o.key);
    // Try right when the key runs out, not up to a third of a lease later.
    if (ttl >= 0 && ttl < this.intervalMs) return ttl + 5 + Math.random() * 20;
    if (ttl === -2) return 0; // gone just now
    return this.intervalMs;
  }

  private becomeLeader(sentAt: number): void {
    this.leader = true;
    this.lastHolder = this.o.id;
    this.keepUntil(sentAt + this.o.leaseMs - this.marginMs);
    this.o.logger.info(`${this.o.label} ${this.o.id}: leader (lease ${this.o.key})`);
    this.o.events.gained();
  }

  private keepUntil(deadline: number): void {
    this.validUntil = deadline;
    clearTimeout(this.expiryTimer);
    // Timers run on the loop's cached clock and can fire a little before the deadline:
    // arm again until it has really passed.
    this.expiryTimer = setTimeout(
      () => {
        if (!this.leader) return;
        if (this.holds()) this.keepUntil(this.validUntil);
        else this.stepDown('could not renew it in time: Redis unreachable or too slow');
      },
      Math.max(1, Math.ceil(deadline - performance.now()) + 1),
    );
    this.expiryTimer.unref();
  }

  private stepDown(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.validUntil = 0;
    this.lastHolder = undefined;
    clearTimeout(this.expiryTimer);
    this.o.logger.warn(`${this.o.label} ${this.o.id}: lost the leader lease (${reason}); stopped`);
    this.o.events.lost(reason);
  }

  private logError(error: Error): void {
    if (this.closed) return;
    const message = describeRedisError(error);
    this.log.error(message, `${this.o.label} lease: redis error: ${message}`);
  }
}

/**
 * No Redis: this instance is the only one. Correct for one instance; with several, each
 * would act (its owner says so plainly at start).
 */
export class SoleLeadership implements Leadership {
  readonly mode = 'single' as const;
  private active = false;
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly events: LeadershipEvents,
  ) {}

  get holder(): string | undefined {
    return this.active ? this.id : undefined;
  }

  holds(): boolean {
    return this.active;
  }

  start(): void {
    if (this.active || this.closed) return;
    this.active = true;
    this.events.gained();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.active = false;
  }
}
