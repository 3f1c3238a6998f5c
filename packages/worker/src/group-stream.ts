import { closeOwnConnection, openOwnClient, type RedisSource } from '@bancada/internal';
import type { Cluster, Redis } from 'ioredis';
import type { StreamEntry } from './entries.js';
import type { ResolvedWorkerOptions } from './options.js';
import { entriesOfClaim, entriesOfRead, infoOf } from './stream-replies.js';

/**
 * The longest one XREADGROUP blocks in Redis. Short, so that a closing worker, a claim that is
 * due and a batch's deadline are looked at often; an idle worker costs Redis two reads a second.
 */
export const MAX_BLOCK_MS = 500;

/** An entry that can never be written, and why. */
export interface Refused {
  entry: StreamEntry;
  reason: string;
}

/**
 * The worker's side of its consumer group on one stream (a partition), on two connections of
 * its own (each a `Cluster` client on a Redis Cluster): one blocks in
 * XREADGROUP (and claims), the other does everything else (XGROUP, XACK, the dead-letter
 * XADDs, XINFO), so that neither waits for the other. Each command is tried once: the
 * worker's loop decides when to try again.
 */
export class GroupStream {
  private readonly reader: Redis | Cluster;
  private readonly control: Redis | Cluster;
  private reading = false;

  constructor(
    private readonly o: ResolvedWorkerOptions,
    events: { onError(error: Error): void; onUpOrDown(): void },
  ) {
    this.reader = openConnection(o.redis, `bancada-worker-read:${o.consumer}`);
    this.control = openConnection(o.redis, `bancada-worker:${o.consumer}`);
    for (const connection of [this.reader, this.control]) {
      connection.on('error', events.onError);
      connection.on('close', events.onUpOrDown);
      connection.on('ready', events.onUpOrDown);
    }
  }

  /** Both connections are ready. */
  get up(): boolean {
    return this.reader.status === 'ready' && this.control.status === 'ready';
  }

  /** Resolves true once both connections are ready, or false as soon as `signal` aborts. */
  async ready(signal: AbortSignal): Promise<boolean> {
    return (await whenReady(this.reader, signal)) && (await whenReady(this.control, signal));
  }

  /** Creates the group unless it exists; true if it did. */
  async createGroup(): Promise<boolean> {
    const o = this.o;
    try {
      // From 0, not $: a new group persists what the stream already holds.
      await this.control.xgroup('CREATE', o.stream, o.group, '0', 'MKSTREAM');
      return true;
    } catch (error) {
      if (!(error as Error).message.startsWith('BUSYGROUP')) throw error;
      return false;
    }
  }

  /** Up to `count` entries nobody has been given yet, waiting at most `blockMs` for them. */
  async readNew(count: number, blockMs: number): Promise<StreamEntry[]> {
    const o = this.o;
    this.reading = true;
    let reply: unknown;
    try {
      reply = await this.reader.xreadgroup(
        'GROUP',
        o.group,
        o.consumer,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        o.stream,
        '>',
      );
    } finally {
      this.reading = false;
    }
    return entriesOfRead(reply).entries;
  }

  /** Up to `count` entries given to this consumer name before (after `after`), never acknowledged. */
  async readOwn(after: string, count: number): Promise<ReturnType<typeof entriesOfRead>> {
    const o = this.o;
    const reply = await this.reader.xreadgroup(
      'GROUP',
      o.group,
      o.consumer,
      'COUNT',
      count,
      'STREAMS',
      o.stream,
      after,
    );
    return entriesOfRead(reply);
  }

  /** Takes over up to `count` entries other consumers left pending for claimMinIdleMs. */
  async claim(cursor: string, count: number): Promise<ReturnType<typeof entriesOfClaim>> {
    const o = this.o;
    const reply = await this.reader.xautoclaim(
      o.stream,
      o.group,
      o.consumer,
      o.claimMinIdleMs,
      cursor,
      'COUNT',
      count,
    );
    return entriesOfClaim(reply);
  }

  async acknowledge(ids: readonly string[]): Promise<void> {
    await this.control.xack(this.o.stream, this.o.group, ...ids);
  }

  /**
   * Adds each entry to the dead-letter stream with why it was refused, where it came from
   * and its original fields, in one round trip; throws the first failure.
   */
  async deadLetter(items: readonly Refused[]): Promise<void> {
    const o = this.o;
    const pipeline = this.control.pipeline();
    for (const { entry, reason } of items) {
      pipeline.call(
        'XADD',
        o.deadLetterStream,
        'MAXLEN',
        '~',
        o.deadLetterMaxLen,
        '*',
        'reason',
        reason,
        'source_stream',
        o.stream,
        'source_id',
        entry.id,
        'consumer',
        o.consumer,
        ...entry.fields,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [error] of results) if (error) throw error;
  }

  /**
   * Records `partitions` as the number of partitions of `stream` unless one is recorded
   * already; resolves the number recorded.
   */
  async agreePartitions(key: string, partitions: number): Promise<number> {
    await this.control.set(key, String(partitions), 'NX');
    return Number(await this.control.get(key));
  }

  /** The group's pending count and lag (XINFO GROUPS); undefined if Redis cannot say now. */
  async groupInfo(): Promise<{ pending: number; lag: number | null } | undefined> {
    if (this.control.status !== 'ready') return undefined;
    let found: { pending: number; lag: number | null } | undefined;
    try {
      const groups = (await this.control.xinfo('GROUPS', this.o.stream)) as unknown[][];
      for (const info of groups.map(infoOf)) {
        if (info.get('name') !== this.o.group) continue;
        const lag = info.get('lag');
        found = {
          pending: Number(info.get('pending') ?? 0),
          lag: lag === null || lag === undefined ? null : Number(lag),
        };
      }
    } catch {
      // Redis away or the stream gone: the next tick tries again; the loop reports errors.
    }
    return found;
  }

  /** A read blocked in a Redis that stopped answering would never return: cut it loose. */
  dropBlockedRead(): void {
    if (this.reading) this.reader.disconnect();
  }

  async close(): Promise<void> {
    await Promise.all([closeOwnConnection(this.reader), closeOwnConnection(this.control)]);
  }
}

/**
 * One connection of the worker's own. Commands fail at once while it is down instead of
 * queueing: the worker's loop decides when to try again, and a queued XACK or XREADGROUP
 * replayed after a reconnect could act on a batch the loop has already given up.
 */
function openConnection(source: RedisSource, name: string): Redis | Cluster {
  return openOwnClient(source, { name, maxRetryDelayMs: 2000, connectTimeoutMs: 5000 });
}

/** Resolves true once `connection` is ready, or false as soon as `signal` aborts. */
function whenReady(connection: Redis | Cluster, signal: AbortSignal): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      connection.off('ready', onReady);
      signal.removeEventListener('abort', onAbort);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onAbort = () => done(false);
    connection.on('ready', onReady);
    signal.addEventListener('abort', onAbort);
  });
}
