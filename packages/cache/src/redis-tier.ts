import {
  atMost,
  closeOwnConnection,
  describeRedisError,
  type Logger,
  type RedisSource,
  ThrottledLog,
} from '@bancada/internal';
import type { Redis } from 'ioredis';
import { unlinkKeys, unlinkMatching } from './key-space.js';
import { LoadLock, type LoadLockOptions } from './load-lock.js';
import { OutageJournal } from './outage-journal.js';
import { clientKeyPrefix, isReplyError, openConnection } from './redis-connections.js';
import {
  outOfReach,
  type RemoteTier,
  type TierHealth,
  type UntrustedListener,
} from './remote-tier.js';
import { StallWatchdog } from './stall-watchdog.js';
import { Tracking } from './tracking.js';
import { WriteBatching } from './write-batching.js';

/** How many keys changed during an outage are remembered before recovery clears everything instead. */
const JOURNAL_MAX_ENTRIES = 10_000;

export interface RedisTierOptions {
  source: RedisSource;
  /** The cache's prefix option; the key prefix of a caller's client goes in front of it. */
  prefix: string;
  timeoutMs: number;
  /** Whether to follow invalidations: only a local tier needs them. */
  invalidations: boolean;
  /** The cross-instance load lock, if any. */
  lock: LoadLockOptions | false;
  /**
   * Whether local copies are served while Redis is out of reach. Not behind Sentinel: the
   * master may be replaced meanwhile, and other instances write to the new one.
   */
  keepLocalWhenLost: boolean;
  logger: Logger;
}

/**
 * The Redis side of the cache: a command connection, and (for a local tier) Redis's
 * client-side-caching invalidations on a subscriber connection (see Tracking), which also
 * cover writes made outside Bancada; NOLOOP skips our own, so a set costs one round trip.
 * It owns every failure: a stalled connection is dropped (StallWatchdog), a lost one makes it
 * degraded, what changed meanwhile is kept (OutageJournal) and replayed before Redis is trusted
 * again, and then every local copy is declared untrusted.
 */
export class RedisTier implements RemoteTier {
  #health: TierHealth = 'starting';
  #failures = 0;
  /** What every key of the cache starts with in Redis: the client's keyPrefix, then ours. */
  private readonly fullPrefix: string;
  private readonly client: Redis;
  private readonly tracking: Tracking | undefined;
  private readonly watchdog: StallWatchdog;
  private readonly batching: WriteBatching;
  private readonly loadLock: LoadLock | undefined;
  private readonly journal = new OutageJournal(JOURNAL_MAX_ENTRIES);
  private readonly errorLog: ThrottledLog;
  private readonly listeners = new Set<UntrustedListener>();
  /** Whether the first connection attempt has succeeded or failed (see settled()). */
  private startSettled = false;
  private settleStart!: () => void;
  private readonly startSettles = new Promise<void>((resolve) => {
    this.settleStart = () => {
      this.startSettled = true;
      resolve();
    };
  });
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  private closed = false;

  constructor(private readonly options: RedisTierOptions) {
    this.fullPrefix = clientKeyPrefix(options.source) + options.prefix;
    this.errorLog = new ThrottledLog(options.logger);
    this.client = openConnection(options.source, options.timeoutMs, 'bancada-cache');
    this.client.on('ready', () => this.recover());
    this.client.on('close', () => this.degrade('connection closed'));
    this.client.on('error', (error: Error) => this.logError('connection', error));
    this.watchdog = new StallWatchdog(this.client, options.timeoutMs, (reason) =>
      this.degrade(reason),
    );
    this.batching = new WriteBatching(this.client);
    this.loadLock = options.lock ? new LoadLock(this.client, options.lock) : undefined;
    this.tracking = options.invalidations
      ? new Tracking(options.source, options.timeoutMs, this.fullPrefix, options.logger, {
          subscribed: () => this.recover(),
          // No invalidation can arrive now: stop trusting the local tier at once.
          disconnected: () => {
            if (this.#health === 'coherent') this.#health = 'bypass';
          },
          changed: (keys) => this.untrust(keys),
          error: (where, error) => this.logError(where, error),
        })
      : undefined;
  }

  get health(): TierHealth {
    return this.#health;
  }

  get failures(): number {
    return this.#failures;
  }

  async settled(): Promise<void> {
    if (this.startSettled) return;
    await atMost(this.startSettles, this.options.timeoutMs);
    if (this.startSettled) return;
    // Commands work but invalidations are not flowing yet: go on, bypassing the local tier.
    if (this.sendable) this.settleStart();
    else this.degrade(`no answer within ${this.options.timeoutMs} ms at start`);
  }

  onUntrusted(listener: UntrustedListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get(key: string): Promise<string | null | undefined> {
    return this.send(undefined, undefined, () => {
      this.batching.beforeSend();
      return this.client.get(this.fullPrefix + key);
    });
  }

  set(key: string, text: string, ttlMs: number): Promise<boolean> {
    const remember = () => this.journal.key(key);
    return this.send(false, remember, async () => {
      this.batching.beforeSend();
      if (ttlMs === Infinity) await this.client.set(this.fullPrefix + key, text);
      else await this.client.set(this.fullPrefix + key, text, 'PX', ttlMs);
      return true;
    });
  }

  delete(key: string): Promise<boolean | undefined> {
    const remember = () => this.journal.key(key);
    return this.send(undefined, remember, async () => {
      this.batching.beforeSend();
      return (await this.client.unlink(this.fullPrefix + key)) > 0;
    });
  }

  deleteMatching(glob: string): Promise<number | undefined> {
    const remember = () => this.journal.pattern(glob);
    return this.send(undefined, remember, () => unlinkMatching(this.client, this.fullPrefix, glob));
  }

  clear(): Promise<boolean> {
    const remember = () => this.journal.all();
    return this.send(false, remember, async () => {
      await unlinkMatching(this.client, this.fullPrefix, '*');
      return true;
    });
  }

  lock<T>(key: string, load: () => Promise<T>, read: () => Promise<unknown>): Promise<T> {
    if (this.loadLock === undefined || !this.sendable) return load();
    return this.loadLock.run(this.fullPrefix + key, load, read);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchdog.stop();
    await Promise.all([closeOwnConnection(this.client), this.tracking?.close()]);
  }

  /** Commands may go to Redis now: connected, not tripped, outage changes replayed. */
  private get sendable(): boolean {
    return !this.closed && (this.#health === 'coherent' || this.#health === 'bypass');
  }

  /**
   * Sends `command` once Redis can take it (after the first connection attempt, if that is
   * pending). When Redis cannot take it, or fails it for want of Redis, `remember` keeps the
   * change for replay and the answer is `fallback`: nothing here throws because of Redis.
   */
  private async send<T, F>(
    fallback: F,
    remember: (() => void) | undefined,
    command: () => Promise<T>,
  ): Promise<T | F> {
    if (this.#health === 'starting') await this.settled();
    if (!this.sendable) {
      remember?.();
      return fallback;
    }
    try {
      return await command();
    } catch (error) {
      if (this.failed(error)) remember?.();
      return fallback;
    }
  }

  /**
   * A command failed. A reply error (wrong type, out of memory) is Redis answering: nothing
   * to trip. Anything else means Redis is out of reach: degraded until it reconnects, and
   * true, so that the change is kept for replay.
   */
  private failed(error: unknown): boolean {
    this.#failures++;
    if (isReplyError(error)) {
      this.logError('command', error);
      return false;
    }
    this.degrade(describeRedisError(error));
    return true;
  }

  private untrust(keys: string[] | null): void {
    for (const listener of this.listeners) listener(keys);
  }

  /**
   * Makes Redis trustworthy again after a start or a reconnect of either connection: replay
   * what changed during the outage, (re)point tracking at the current subscriber, then
   * declare every local copy untrusted, since values may have changed while no invalidation
   * could reach us. Runs one at a time.
   */
  private recover(): void {
    if (this.closed) return;
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = this.runRecovery().finally(() => {
      this.recovering = undefined;
      if (this.recoverAgain) {
        this.recoverAgain = false;
        this.recover();
      }
    });
  }

  private async runRecovery(): Promise<void> {
    if (this.client.status !== 'ready') return;
    const wasDegraded = outOfReach(this.#health);
    try {
      await this.replayJournal();
      const tracked = (await this.tracking?.enable(this.client)) ?? false;
      // Changes made on this instance while the steps above awaited are still unapplied.
      await this.replayJournal();
      if (this.closed) return;
      this.untrust(null);
      this.#health = tracked ? 'coherent' : 'bypass';
      // At start, wait for the subscriber too, so the first reads can already use the local tier.
      if (tracked || this.tracking === undefined || this.tracking.refused) this.settleStart();
      if (wasDegraded) this.options.logger.info('cache: redis is back (distributed again)');
    } catch (error) {
      // Redis is not trustworthy yet; the journal is kept for the next attempt.
      this.logError('recovery', error as Error);
      if (!isReplyError(error)) {
        this.degrade(describeRedisError(error));
        return;
      }
      // Redis answered but refused a step: stay degraded and try again shortly.
      this.degrade(error.message, { reconnect: false });
      setTimeout(() => this.recover(), 1000).unref();
    }
  }

  /** Deletes in Redis what changed here while it was away, including changes made meanwhile. */
  private async replayJournal(): Promise<void> {
    const apply = {
      keys: (keys: string[]) => unlinkKeys(this.client, this.fullPrefix, keys),
      pattern: (glob: string) => unlinkMatching(this.client, this.fullPrefix, glob),
    };
    while (!this.journal.isEmpty) await this.journal.replay(apply);
  }

  private degrade(reason: string, { reconnect = true } = {}): void {
    if (this.closed) return;
    const wasUp = !outOfReach(this.#health);
    this.settleStart();
    if (this.options.keepLocalWhenLost) {
      this.#health = 'degraded';
      if (wasUp) {
        this.options.logger.warn(
          `cache: redis unavailable (${reason}); serving the local tier only (degraded)`,
        );
      }
    } else {
      this.#health = 'unreachable';
      this.untrust(null);
      if (wasUp) {
        this.options.logger.warn(
          `cache: redis unavailable (${reason}); reads miss until a master answers, since ` +
            'another may be promoted meanwhile (degraded)',
        );
      }
    }
    // A failure on a connection that still looks up (a stall, a broken recovery) will not be
    // followed by a new 'ready': drop the socket (destroy, since a graceful close waits for a
    // peer that may never answer), which rejects what is pending; ioredis then reconnects.
    if (reconnect && this.client.status === 'ready') this.client.stream.destroy();
  }

  private logError(where: string, error: Error): void {
    if (this.closed) return;
    const message = describeRedisError(error);
    this.errorLog.error(`${where}:${message}`, `cache: redis ${where} error: ${message}`);
  }
}
