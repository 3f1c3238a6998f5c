import { atMost, closeOwnConnection, type Logger, ThrottledLog } from '@bancada/internal';
import type { Redis, RedisOptions } from 'ioredis';
import { escapeGlob } from './glob.js';
import { OutageJournal } from './outage-journal.js';
import { isReplyError, openConnection } from './redis-connections.js';
import { StallWatchdog } from './stall-watchdog.js';

const INVALIDATE_CHANNEL = '__redis__:invalidate';
const SCAN_COUNT = 1000;
const UNLINK_BATCH = 500;

/** What the tier tells the cache that owns the local tier. */
export interface TierListener {
  /** These keys (without prefix) changed in Redis; null means every key may have. */
  invalidate(keys: string[] | null): void;
}

export interface RedisTierOptions {
  source: string | Redis | RedisOptions;
  prefix: string;
  timeoutMs: number;
  /** Whether a local tier exists; without one there is nothing to keep coherent. */
  tracking: boolean;
  journalMaxEntries: number;
  logger: Logger;
  listener: TierListener;
}

/**
 * The Redis side of the cache: a command connection and a subscriber connection, kept
 * coherent with the local tier by Redis's client-side-caching invalidations
 * (`CLIENT TRACKING ON REDIRECT <subscriber> BCAST PREFIX <prefix> NOLOOP`). Redis itself
 * reports every change under the prefix, including writes made outside Bancada, and skips
 * the changes made by our own connection (NOLOOP), so a set costs a single round trip.
 *
 * State, as the cache reads it on every call:
 * - `usable`: commands may be sent (connected, not tripped, outage changes replayed);
 * - `serveLocal`: the local tier may answer: invalidations are flowing, or Redis is out of
 *   reach and the local tier is all there is (degraded);
 * - `degraded`: Redis is out of reach.
 */
export class RedisTier {
  readonly prefix: string;
  readonly client: Redis;
  usable = false;
  serveLocal = false;
  degraded = false;

  private readonly subscriber: Redis | undefined;
  private readonly journal: OutageJournal;
  private readonly errorLog: ThrottledLog;
  private starting = true;
  private settleStart!: () => void;
  private readonly started = new Promise<void>((resolve) => {
    this.settleStart = () => {
      this.starting = false;
      resolve();
    };
  });
  private subscriberId: string | undefined;
  private trackingRefused = false;
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  private readonly watchdog: StallWatchdog;
  private closed = false;
  private corked = false;

  constructor(private readonly options: RedisTierOptions) {
    this.prefix = options.prefix;
    this.journal = new OutageJournal(options.journalMaxEntries);
    this.errorLog = new ThrottledLog(options.logger);
    this.client = openConnection(options.source, options.timeoutMs, 'bancada-cache');
    this.client.on('ready', () => this.recover());
    this.client.on('close', () => this.lose('connection closed'));
    this.client.on('error', (error: Error) => this.logError('connection', error));
    this.watchdog = new StallWatchdog(this.client, options.timeoutMs, (reason) =>
      this.lose(reason),
    );

    if (options.tracking) {
      // It subscribes itself on every 'ready', after reading its new connection id: an
      // automatic resubscribe would come first and forbid CLIENT ID on that connection.
      const subscriber = openConnection(options.source, options.timeoutMs, 'bancada-cache-sub', {
        autoResubscribe: false,
      });
      subscriber.on('ready', () => this.onSubscriberReady(subscriber));
      subscriber.on('close', () => this.onSubscriberLost());
      subscriber.on('error', (error: Error) => this.logError('subscriber', error));
      subscriber.on('messageBuffer', (channel: Buffer, message: unknown) =>
        this.onInvalidation(channel, message),
      );
      this.subscriber = subscriber;
    }
  }

  /**
   * Call before sending a command. While replies are still pending, commands issued in the
   * same tick are written to the socket together (one syscall instead of one each); an idle
   * connection writes at once, so a lone caller waits for nothing.
   */
  batchWrites(): void {
    if (this.corked || this.client.commandQueue.length === 0) return;
    const stream = this.client.stream;
    stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  /** True until the first connection attempt has succeeded or failed. */
  get isStarting(): boolean {
    return this.starting;
  }

  /** Waits, at most `timeoutMs`, for the first connection attempt to settle. */
  async whenStarted(): Promise<void> {
    if (!this.starting) return;
    await atMost(this.started, this.options.timeoutMs);
    if (!this.starting) return;
    // Commands work but invalidations are not flowing yet: go on, bypassing the local tier.
    if (this.usable) this.settleStart();
    else this.lose(`no answer within ${this.options.timeoutMs} ms at start`);
  }

  /**
   * Called by the cache when a command failed. A reply error (wrong type, out of memory)
   * is Redis answering: nothing to trip. Anything else means Redis is out of reach: the
   * change is remembered for replay and the tier goes degraded until it reconnects.
   */
  failed(error: unknown, change?: { key?: string; pattern?: string; all?: boolean }): void {
    if (isReplyError(error)) {
      this.logError('command', error);
      return;
    }
    this.remember(change);
    this.lose((error as Error)?.message ?? String(error));
  }

  /** Records a change made while Redis is out of reach, to replay on recovery. */
  remember(change?: { key?: string; pattern?: string; all?: boolean }): void {
    if (change?.all) this.journal.all();
    else if (change?.pattern !== undefined) this.journal.pattern(change.pattern);
    else if (change?.key !== undefined) this.journal.key(change.key);
  }

  /** Deletes every key of this cache matching `glob` with SCAN and batched UNLINK (never KEYS). */
  async unlinkMatching(glob: string): Promise<number> {
    const match = escapeGlob(this.prefix) + glob;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
        removed += await this.client.unlink(...keys.slice(i, i + UNLINK_BATCH));
      }
    } while (cursor !== '0');
    return removed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.usable = false;
    this.watchdog.stop();
    await Promise.all([
      closeOwnConnection(this.client),
      this.subscriber ? closeOwnConnection(this.subscriber) : undefined,
    ]);
  }

  /**
   * Makes Redis trustworthy again after a start or a reconnect of either connection: replay what changed during the outage, (re)point tracking at the
   * current subscriber, then drop the whole local tier, which may hold values that changed
   * while no invalidation could reach us. Runs one at a time.
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
    const wasDegraded = this.degraded;
    try {
      await this.replayJournal();
      const tracking = await this.enableTracking();
      // Changes made on this instance while the steps above awaited are still unapplied.
      await this.replayJournal();
      if (this.closed) return;
      this.options.listener.invalidate(null);
      this.usable = true;
      this.degraded = false;
      this.serveLocal = tracking;
      // At start, wait for the subscriber too, so the first reads can already use the local tier.
      if (tracking || !this.options.tracking || this.trackingRefused) this.settleStart();
      if (wasDegraded) this.options.logger.info('cache: redis is back (distributed again)');
    } catch (error) {
      // Redis is not trustworthy yet; the journal is kept for the next attempt.
      this.logError('recovery', error as Error);
      if (!isReplyError(error)) {
        this.lose((error as Error)?.message ?? String(error));
        return;
      }
      // Redis answered but refused a step: stay degraded and try again shortly.
      this.lose((error as Error).message, { reconnect: false });
      setTimeout(() => this.recover(), 1000).unref();
    }
  }

  /** Deletes in Redis what changed here while it was away, including changes made meanwhile. */
  private async replayJournal(): Promise<void> {
    const apply = {
      keys: (keys: string[]) => this.unlinkKeys(keys),
      pattern: (glob: string) => this.unlinkMatching(glob),
    };
    while (!this.journal.isEmpty) await this.journal.replay(apply);
  }

  /** Points tracking at the subscriber's current connection id; false if it cannot be on. */
  private async enableTracking(): Promise<boolean> {
    if (!this.options.tracking || this.trackingRefused || this.subscriberId === undefined) {
      return false;
    }
    // Tracking lives on the connection: after a reconnect it is off, and after the
    // subscriber reconnects it points at a dead id. OFF then ON covers both cases.
    try {
      await this.client.call('CLIENT', 'TRACKING', 'OFF');
      await this.client.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        this.subscriberId,
        'BCAST',
        'PREFIX',
        this.prefix,
        'NOLOOP',
      );
      return true;
    } catch (error) {
      if (!isReplyError(error)) throw error;
      this.trackingRefused = true;
      this.options.logger.warn(
        `cache: Redis refused CLIENT TRACKING (${error.message}); the local tier is bypassed ` +
          'while Redis is up, so every read goes to Redis. Redis 6 or later is needed for it.',
      );
      return false;
    }
  }

  private async onSubscriberReady(subscriber: Redis): Promise<void> {
    try {
      const id = await subscriber.client('ID');
      await subscriber.subscribe(INVALIDATE_CHANNEL);
      this.subscriberId = String(id);
      this.recover();
    } catch (error) {
      this.logError('subscriber', error as Error);
      subscriber.disconnect(true);
    }
  }

  /** Without the subscriber no invalidation arrives: stop trusting the local tier at once. */
  private onSubscriberLost(): void {
    this.subscriberId = undefined;
    if (!this.degraded) this.serveLocal = false;
  }

  private onInvalidation(channel: Buffer, message: unknown): void {
    if (channel.toString() !== INVALIDATE_CHANNEL) return;
    // A null message means FLUSHDB/FLUSHALL, or that Redis evicted its tracking table.
    if (!Array.isArray(message)) {
      this.options.listener.invalidate(null);
      return;
    }
    const keys: string[] = [];
    for (const raw of message) {
      const key = String(raw);
      if (key.startsWith(this.prefix)) keys.push(key.slice(this.prefix.length));
    }
    this.options.listener.invalidate(keys);
  }

  private lose(reason: string, { reconnect = true } = {}): void {
    if (this.closed) return;
    const wasUp = this.usable || this.starting;
    this.usable = false;
    this.degraded = true;
    this.serveLocal = true;
    this.settleStart();
    if (wasUp) {
      this.options.logger.warn(
        `cache: redis unavailable (${reason}); serving the local tier only (degraded)`,
      );
    }
    // A failure on a connection that still looks up (a stall, a broken recovery) will not be
    // followed by a new 'ready': drop the socket (destroy, since a graceful close waits for a
    // peer that may never answer), which rejects what is pending; ioredis then reconnects.
    if (reconnect && this.client.status === 'ready') this.client.stream.destroy();
  }

  private async unlinkKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
      await this.client.unlink(...keys.slice(i, i + UNLINK_BATCH).map((k) => this.prefix + k));
    }
  }

  private logError(where: string, error: Error): void {
    if (this.closed) return;
    this.errorLog.error(
      `${where}:${error.message}`,
      `cache: redis ${where} error: ${error.message}`,
    );
  }
}
