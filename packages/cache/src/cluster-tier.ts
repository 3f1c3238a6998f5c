import {
  atMost,
  closeOwnConnection,
  describeRedisError,
  ThrottledLog,
  TimeoutError,
} from '@bancada/internal';
import type { Cluster } from 'ioredis';
import { CallDeadlines } from './call-deadlines.js';
import { ClusterTracking } from './cluster-tracking.js';
import { unlinkKeysOneByOne, unlinkMatchingOnEveryMaster } from './key-space.js';
import { LoadLock } from './load-lock.js';
import { OutageJournal } from './outage-journal.js';
import { clientKeyPrefix, isReplyError, openClusterConnection } from './redis-connections.js';
import type { RedisTierOptions } from './redis-tier.js';
import type { RemoteTier, TierHealth, Untrusted, UntrustedListener } from './remote-tier.js';
import { ClusterWriteBatching } from './write-batching.js';

/** How many keys changed during an outage are remembered before recovery clears everything instead. */
const JOURNAL_MAX_ENTRIES = 10_000;

/**
 * The shared tier on a Redis Cluster: commands through an ioredis Cluster client of the
 * cache's own, and invalidations from every master (ClusterTracking), each node trusted on
 * its own. A node out of reach fails only the calls for its keys (each bounded by the
 * timeout; the change is kept in the outage journal and replayed before a node is trusted
 * again); the tier is degraded (the local tier alone) only when the whole cluster is.
 */
export class ClusterTier implements RemoteTier {
  #health: TierHealth = 'starting';
  #failures = 0;
  private readonly fullPrefix: string;
  private readonly cluster: Cluster;
  private readonly tracking: ClusterTracking | undefined;
  private readonly loadLock: LoadLock | undefined;
  private readonly deadlines: CallDeadlines;
  private readonly batching: ClusterWriteBatching;
  private readonly journal = new OutageJournal(JOURNAL_MAX_ENTRIES);
  private replaying: Promise<void> = Promise.resolve();
  private readonly errorLog: ThrottledLog;
  private readonly listeners = new Set<UntrustedListener>();
  private startSettled = false;
  private settleStart!: () => void;
  private readonly startSettles = new Promise<void>((resolve) => {
    this.settleStart = () => {
      this.startSettled = true;
      resolve();
    };
  });
  private announced = false;
  private closed = false;

  constructor(private readonly options: Omit<RedisTierOptions, 'keepLocalWhenLost'>) {
    this.fullPrefix = clientKeyPrefix(options.source) + options.prefix;
    this.errorLog = new ThrottledLog(options.logger);
    this.cluster = openClusterConnection(options.source, options.timeoutMs);
    this.batching = new ClusterWriteBatching(this.cluster);
    this.deadlines = new CallDeadlines(options.timeoutMs, 'no answer from the cluster in time');
    this.cluster.on('ready', () => void this.recover());
    this.cluster.on('close', () => this.degrade('no node of the cluster is usable'));
    this.cluster.on('error', (error: Error) => this.logError('cluster', error));
    this.cluster.on('node error', (error: Error, node: string) =>
      this.logError(`node ${node}`, error),
    );
    this.loadLock = options.lock ? new LoadLock(this.cluster, options.lock) : undefined;
    this.tracking = options.invalidations
      ? new ClusterTracking(this.cluster, options.timeoutMs, this.fullPrefix, options.logger, {
          untrusted: (keys) => this.untrust(keys),
          beforeTrust: () => this.replayJournal(),
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

  trusts(key: string): boolean {
    return this.tracking?.trusts(key) ?? false;
  }

  async settled(): Promise<void> {
    if (this.startSettled) return;
    await atMost(this.startSettles, this.options.timeoutMs * 4);
    if (this.startSettled) return;
    this.degrade(`no cluster node answered within ${this.options.timeoutMs * 4} ms at start`);
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
      return this.cluster.get(this.fullPrefix + key);
    });
  }

  set(key: string, text: string, ttlMs: number): Promise<boolean> {
    return this.send(
      false,
      () => this.journal.key(key),
      async () => {
        this.batching.beforeSend();
        if (ttlMs === Infinity) await this.cluster.set(this.fullPrefix + key, text);
        else await this.cluster.set(this.fullPrefix + key, text, 'PX', ttlMs);
        return true;
      },
    );
  }

  delete(key: string): Promise<boolean | undefined> {
    return this.send(
      undefined,
      () => this.journal.key(key),
      async () => (await this.cluster.unlink(this.fullPrefix + key)) > 0,
    );
  }

  deleteMatching(glob: string): Promise<number | undefined> {
    return this.send(
      undefined,
      () => this.journal.pattern(glob),
      () => unlinkMatchingOnEveryMaster(this.cluster, this.fullPrefix, glob),
      { bounded: false },
    );
  }

  clear(): Promise<boolean> {
    return this.send(
      false,
      () => this.journal.all(),
      async () => {
        await unlinkMatchingOnEveryMaster(this.cluster, this.fullPrefix, '*');
        return true;
      },
      { bounded: false },
    );
  }

  lock<T>(key: string, load: () => Promise<T>, read: () => Promise<unknown>): Promise<T> {
    if (this.loadLock === undefined || this.#health === 'degraded') return load();
    return this.loadLock.run(this.fullPrefix + key, load, read);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.deadlines.stop();
    await Promise.all([closeOwnConnection(this.cluster), this.tracking?.close()]);
  }

  /**
   * Sends `command` unless the whole cluster is out of reach; a failure (a node down, no
   * answer within the timeout) keeps the change with `remember` and answers `fallback`.
   * Walks of every master (`bounded: false`) take as long as the key space needs.
   */
  private async send<T, F>(
    fallback: F,
    remember: (() => void) | undefined,
    command: () => Promise<T>,
    { bounded = true } = {},
  ): Promise<T | F> {
    if (this.#health === 'starting') await this.settled();
    if (this.closed || this.#health === 'degraded') {
      remember?.();
      return fallback;
    }
    try {
      return await (bounded ? this.deadlines.bound(command()) : command());
    } catch (error) {
      this.#failures++;
      // CLUSTERDOWN (slots no node serves, masters lost) is an answer, but the write did not
      // happen: kept for replay like a node out of reach.
      if (isReplyError(error) && !error.message.startsWith('CLUSTERDOWN')) {
        this.logError('command', error);
        return fallback;
      }
      remember?.();
      if (!(error instanceof TimeoutError)) this.logError('command', error as Error);
      return fallback;
    }
  }

  private untrust(keys: Untrusted): void {
    for (const listener of this.listeners) listener(keys);
  }

  /** The cluster is (again) reachable: replay what changed meanwhile, then drop every local copy. */
  private async recover(): Promise<void> {
    if (this.closed) return;
    const wasDegraded = this.#health === 'degraded';
    await this.replayJournal();
    if (this.closed || this.cluster.status !== 'ready') return;
    this.untrust(null);
    this.#health = this.tracking ? 'coherent' : 'bypass';
    this.settleStart();
    if (!this.announced) {
      this.announced = true;
      const masters = this.cluster.nodes('master').length;
      this.options.logger.info(`cache: redis cluster, ${masters} masters (distributed)`);
    } else if (wasDegraded) {
      this.options.logger.info('cache: redis cluster is back (distributed again)');
    }
  }

  /**
   * Deletes in Redis what changed here while it was out of reach, after any replay under way
   * (a node is trusted only once what was taken for replay before it is done). Keys on nodes
   * still out of reach stay in the journal for the next replay; so does a pattern or a clear
   * that failed.
   */
  private replayJournal(): Promise<void> {
    const replay = this.replaying.then(() => this.replayOnce());
    this.replaying = replay;
    return replay;
  }

  private async replayOnce(): Promise<void> {
    if (this.journal.isEmpty) return;
    const failed: string[] = [];
    await this.journal
      .replay({
        keys: async (keys) => {
          failed.push(...(await unlinkKeysOneByOne(this.cluster, this.fullPrefix, keys)));
        },
        pattern: (glob) => unlinkMatchingOnEveryMaster(this.cluster, this.fullPrefix, glob),
      })
      .catch((error: Error) => this.logError('recovery', error));
    for (const key of failed) this.journal.key(key);
  }

  private degrade(reason: string): void {
    if (this.closed) return;
    const wasUp = this.#health !== 'degraded';
    this.#health = 'degraded';
    this.settleStart();
    if (wasUp) {
      this.options.logger.warn(
        `cache: redis cluster unavailable (${reason}); serving the local tier only (degraded)`,
      );
    }
  }

  private logError(where: string, error: Error): void {
    if (this.closed) return;
    const message = describeRedisError(error);
    this.errorLog.error(`${where}:${message}`, `cache: redis ${where} error: ${message}`);
  }
}
