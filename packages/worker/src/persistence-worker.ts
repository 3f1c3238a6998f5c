import { performance } from 'node:perf_hooks';
import {
  Backoff,
  closeOwnConnection,
  describeRedisError,
  type Logger,
  sleep,
  ThrottledLog,
  within,
} from '@bancada/internal';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { type EventRow, parseEntries, type StreamEntry } from './entries.js';
import { PersistenceWorkerClosedError } from './errors.js';
import { LatencyWindow } from './latency-window.js';
import {
  type PersistenceWorkerOptions,
  type ResolvedWorkerOptions,
  redact,
  resolveWorkerOptions,
} from './options.js';
import {
  entriesOfClaim,
  entriesOfRead,
  isNoGroup,
  openConnection,
  whenReady,
} from './redis-streams.js';
import { insertValues, isMissingTable, isPoisonError, type TableSql, tableSql } from './table.js';
import type { PersistenceWorker, PersistenceWorkerStats } from './types.js';
import { registerWorkerMetrics, type WorkerMetrics } from './worker-metrics.js';

/**
 * The longest one XREADGROUP blocks in Redis. Short, so that a closing worker, a claim that is
 * due and a batch's deadline are looked at often; an idle worker costs Redis two reads a second.
 */
const MAX_BLOCK_MS = 500;

/**
 * Creates a worker that persists a Redis Stream of envelopes to a Postgres table, in batches,
 * through a consumer group: at-least-once (an entry is acknowledged only after the INSERT
 * that holds it has committed) with idempotent inserts (the envelope id is the primary key),
 * so each event ends up in the table exactly once. Call `start()`.
 *
 * @example
 * const worker = createPersistenceWorker({
 *   redis: process.env.REDIS_URL,
 *   connectionString: process.env.DATABASE_URL,
 *   stream: 'realtime:events',
 * });
 * worker.start();
 * process.on('SIGTERM', () => worker.close());
 */
export function createPersistenceWorker(options: PersistenceWorkerOptions): PersistenceWorker {
  return new StreamPersister(resolveWorkerOptions(options));
}

interface Connections {
  /** XREADGROUP (which blocks) and XAUTOCLAIM. */
  reader: Redis;
  /** Everything else: XGROUP, XACK, XADD to the dead-letter stream, XINFO. */
  control: Redis;
  pool: pg.Pool;
}

class StreamPersister implements PersistenceWorker {
  private readonly sql: TableSql;
  private readonly stopping = new AbortController();
  private readonly logs: ThrottledLog;
  private readonly latency = new LatencyWindow();
  private readonly writeBackoff: Backoff;
  private readonly redisBackoff: Backoff;
  private readonly flushBackoff: Backoff;
  private readonly metrics: WorkerMetrics | undefined;
  private readonly log: Logger;
  private c: Connections | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** The batch being gathered: read from the stream, not written, not acknowledged. */
  private held: StreamEntry[] = [];
  /** When the batch being gathered must be written, full or not. */
  private deadline: number | undefined;
  /**
   * The batch being written, while the next one is gathered: reading overlaps writing, so
   * a worker holds at most two batches.
   */
  private flushing: { batch: StreamEntry[]; done: Promise<void> } | undefined;
  /** Written or dead-lettered, not acknowledged yet (or because Redis failed). */
  private unacked: string[] = [];
  /** Reading the entries an earlier run under this consumer name left pending, from here. */
  private ownHistoryFrom: string | undefined = '0-0';
  private claimCursor = '0-0';
  private nextClaimAt = 0;
  private groupReady = false;
  private tableReady: boolean;
  private reading = false;
  private postgresDown = false;
  private redisUp = false;
  private redisLost = false;
  private group = { pending: 0, lag: null as number | null };
  private counts = {
    batches: 0,
    inserted: 0,
    duplicates: 0,
    acknowledged: 0,
    claimed: 0,
    deadLettered: 0,
    lastBatchSize: 0,
    writeErrors: 0,
    redisErrors: 0,
  };

  constructor(private readonly o: ResolvedWorkerOptions) {
    this.log = o.logger;
    this.logs = new ThrottledLog(o.logger);
    this.sql = tableSql(o.table);
    this.tableReady = !o.createTable;
    this.writeBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    this.redisBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    this.flushBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    // At creation, so that a second worker on one registry fails where it is made.
    this.metrics = o.registry && registerWorkerMetrics(o.registry, () => this.stats());
  }

  start(): void {
    if (this.closing) throw new PersistenceWorkerClosedError();
    if (this.loop) return;
    const o = this.o;
    const reader = openConnection(o.redis, `bancada-worker-read:${o.consumer}`);
    const control = openConnection(o.redis, `bancada-worker:${o.consumer}`);
    for (const connection of [reader, control]) {
      connection.on('error', (error: Error) => this.logError('redis', describeRedisError(error)));
      connection.on('close', () => this.noteRedis());
      connection.on('ready', () => this.noteRedis());
    }
    const pool =
      o.pool ??
      new pg.Pool({
        connectionString: o.connectionString,
        // Batches are written one at a time: a second connection lets a retry start while
        // a broken one is still being torn down.
        max: 2,
        connectionTimeoutMillis: 5000,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        application_name: 'bancada-worker',
        // An INSERT given up on is stopped by the server too, not left queued behind a lock
        // holding a connection slot (and it never lands late either: each retry's does).
        statement_timeout: o.statementTimeoutMs,
        idle_in_transaction_session_timeout: o.statementTimeoutMs,
      });
    // An idle connection that breaks is reported on the pool: without a listener, that
    // would crash the process. The loop's next write finds out and retries by itself.
    pool.on('error', this.onPoolError);
    this.c = { reader, control, pool };
    this.statsTimer = setInterval(() => void this.readGroupInfo(), o.statsIntervalMs);
    this.statsTimer.unref();
    this.loop = this.run();
    this.log.info(
      `realtime worker: persisting stream ${o.stream} (group ${o.group}, consumer ${o.consumer}) ` +
        `to table ${o.table} of ${o.pool ? 'the given pool' : redact(o.connectionString ?? '')}, ` +
        `in batches of ${o.batchSize} or ${o.batchTimeoutMs} ms`,
    );
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  stats(): PersistenceWorkerStats {
    const o = this.o;
    return {
      stream: o.stream,
      group: o.group,
      consumer: o.consumer,
      table: o.table,
      running: this.loop !== undefined && this.closing === undefined,
      degraded: this.degraded,
      pending: this.group.pending,
      lag: this.group.lag,
      held: this.held.length + (this.flushing?.batch.length ?? 0),
      ...this.counts,
      insertLatency: this.latency.summary(),
    };
  }

  private get degraded(): boolean {
    if (this.c === undefined || this.closing) return false;
    return (
      this.postgresDown || this.c.reader.status !== 'ready' || this.c.control.status !== 'ready'
    );
  }

  private async shutdown(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.statsTimer);
    const c = this.c;
    if (this.loop) {
      // A read blocked in a Redis that stopped answering would never return: cut it loose.
      const finished = await Promise.race([
        this.loop.then(() => true),
        sleep(MAX_BLOCK_MS * 4).then(() => false),
      ]);
      if (!finished && this.reading) c?.reader.disconnect();
      await this.loop;
    }
    if (c) {
      await Promise.all([closeOwnConnection(c.reader), closeOwnConnection(c.control)]);
      if (this.o.pool === undefined) await c.pool.end().catch(() => {});
      c.pool.off('error', this.onPoolError);
    }
    this.metrics?.unregister();
    if (c) this.log.info(`realtime worker: stopped (consumer ${this.o.consumer})`);
  }

  private readonly onPoolError = (error: Error) => {
    this.logError('postgres', `idle connection lost: ${error.message}`);
  };

  /** Rounds until closed; never throws: every failure is logged and retried after a backoff. */
  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.round();
        this.redisBackoff.reset();
      } catch (error) {
        this.counts.redisErrors++;
        if (isNoGroup(error)) {
          // The stream or its group is gone (a Redis restarted without persistence):
          // create it again, and read this consumer's pending entries again.
          this.groupReady = false;
          this.ownHistoryFrom = '0-0';
        }
        this.logError('redis', describeRedisError(error));
        await sleep(this.redisBackoff.next(), signal);
      }
    }
    // close(): the batch being written is finished; one gathered meanwhile is tried once,
    // unless Postgres is known to be away (then it is abandoned, unacknowledged, at once).
    await this.flushing?.done;
    if (this.held.length > 0 && !this.postgresDown) this.startFlush();
    await this.flushing?.done;
    // Written before close() but not acknowledged: one last try, else XAUTOCLAIM brings
    // them back to a worker, whose insert skips them.
    if (this.unacked.length > 0) await this.acknowledge().catch(() => {});
  }

  /** Gathers one batch (while the last one is being written), then hands it to be written. */
  private async round(): Promise<void> {
    const c = this.c!;
    const signal = this.stopping.signal;
    if (!(await whenReady(c.reader, signal)) || !(await whenReady(c.control, signal))) return;
    if (!this.groupReady) await this.createGroup();
    if (this.unacked.length > 0) await this.acknowledge();
    await this.gather();
    if (signal.aborted) return;
    await this.flushing?.done;
    if (this.held.length > 0) this.startFlush();
  }

  private startFlush(): void {
    const batch = this.held;
    this.held = [];
    this.deadline = undefined;
    const flushing = { batch, done: this.flush(batch) };
    this.flushing = flushing;
    void flushing.done.then(() => {
      if (this.flushing === flushing) this.flushing = undefined;
    });
  }

  /** Fills `held` up to batchSize, or until its deadline, an idle read, or close(). */
  private async gather(): Promise<void> {
    const o = this.o;
    if (this.ownHistoryFrom !== undefined && this.held.length < o.batchSize) {
      await this.readOwnHistory();
      if (this.held.length > 0) return; // left by this consumer's last run: write it now
    }
    if (Date.now() >= this.nextClaimAt && this.held.length < o.batchSize) await this.claim();
    while (this.held.length < o.batchSize && !this.stopping.signal.aborted) {
      const left = this.deadline === undefined ? MAX_BLOCK_MS : this.deadline - Date.now();
      if (left <= 0) return;
      this.reading = true;
      let reply: unknown;
      try {
        reply = await this.c!.reader.xreadgroup(
          'GROUP',
          o.group,
          o.consumer,
          'COUNT',
          o.batchSize - this.held.length,
          'BLOCK',
          Math.max(1, Math.min(MAX_BLOCK_MS, Math.ceil(left))),
          'STREAMS',
          o.stream,
          '>',
        );
      } finally {
        this.reading = false;
      }
      const { entries } = entriesOfRead(reply);
      if (entries.length > 0) this.hold(entries);
      else if (this.deadline === undefined) return; // idle: go round (claims, close)
    }
  }

  private hold(entries: StreamEntry[]): void {
    if (this.held.length === 0) this.deadline = Date.now() + this.o.batchTimeoutMs;
    for (const entry of entries) this.held.push(entry);
  }

  /** Entries delivered to this consumer name before (a restart) and never acknowledged. */
  private async readOwnHistory(): Promise<void> {
    const o = this.o;
    const reply = await this.c!.reader.xreadgroup(
      'GROUP',
      o.group,
      o.consumer,
      'COUNT',
      o.batchSize - this.held.length,
      'STREAMS',
      o.stream,
      this.ownHistoryFrom!,
    );
    const { entries, gone, lastId } = entriesOfRead(reply);
    this.ownHistoryFrom = lastId;
    this.forgetGone(gone);
    if (entries.length > 0) this.hold(entries);
  }

  /** Takes over entries that other (dead) consumers left pending for claimMinIdleMs. */
  private async claim(): Promise<void> {
    const o = this.o;
    const reply = await this.c!.reader.xautoclaim(
      o.stream,
      o.group,
      o.consumer,
      o.claimMinIdleMs,
      this.claimCursor,
      'COUNT',
      o.batchSize - this.held.length,
    );
    const { cursor, entries, gone } = entriesOfClaim(reply);
    this.claimCursor = cursor;
    // A scan that is not over goes on at the next round, else after claimIntervalMs.
    if (cursor === '0-0') this.nextClaimAt = Date.now() + o.claimIntervalMs;
    if (gone.length > 0) this.warnGone(gone.length);
    const mine = new Set([...this.held, ...(this.flushing?.batch ?? [])].map((entry) => entry.id));
    const taken = entries.filter((entry) => !mine.has(entry.id));
    if (taken.length === 0) return;
    this.counts.claimed += taken.length;
    this.hold(taken);
    this.logs.info(
      'claim',
      `realtime worker: took over ${taken.length} entries of ${o.stream} left pending ` +
        `for over ${o.claimMinIdleMs} ms (${this.counts.claimed} so far)`,
    );
  }

  /** Entries deleted from the stream while pending (trimmed): nothing left to write. */
  private forgetGone(ids: string[]): void {
    if (ids.length === 0) return;
    this.unacked.push(...ids);
    this.warnGone(ids.length);
  }

  private warnGone(count: number): void {
    this.logs.warn(
      'gone',
      `realtime worker: ${count} pending entries were deleted from ${this.o.stream} before ` +
        'they could be written (trimmed with MAXLEN?): they are lost',
    );
  }

  /**
   * Writes a batch: dead-letters what cannot be written, INSERTs the rest in one statement,
   * and acknowledges only after it committed. Never rejects. A batch abandoned on close()
   * (Postgres or Redis away) is not acknowledged: it stays pending in Redis and comes back
   * to a worker through XAUTOCLAIM.
   */
  private async flush(batch: StreamEntry[]): Promise<void> {
    try {
      const { rows, malformed } = parseEntries(batch, this.o.field);
      if (malformed.length > 0 && !(await this.deadLetter(malformed))) return;
      if (rows.length > 0) {
        const result = await this.writeRows(rows);
        if (result === undefined) return;
        const refused = new Set(result.refused.map(({ row }) => row.streamId));
        this.counts.batches++;
        this.counts.lastBatchSize = rows.length;
        this.counts.inserted += result.inserted;
        this.counts.duplicates += rows.length - result.refused.length - result.inserted;
        const written = rows.filter((row) => !refused.has(row.streamId)).map((row) => row.streamId);
        await this.o.testHooks.afterCommit?.(written);
        this.unacked.push(...written);
        if (result.refused.length > 0) {
          const byId = new Map(batch.map((entry) => [entry.id, entry]));
          const items = result.refused.map(({ row, reason }) => ({
            entry: byId.get(row.streamId)!,
            reason,
          }));
          if (!(await this.deadLetter(items))) return;
        }
      }
      // If this fails, the ids stay in `unacked` and the next round acknowledges them.
      await this.acknowledge().catch((error: Error) => {
        this.counts.redisErrors++;
        this.logError('redis', describeRedisError(error));
      });
    } catch (error) {
      // Not expected (a bug, or a test hook that threw): the batch stays pending in Redis.
      this.logError('worker', (error as Error).stack ?? String(error));
    }
  }

  /**
   * Retries until the rows are in, with backoff. Undefined when close() came first: on close
   * a write is tried once, never retried.
   */
  private async writeRows(
    rows: EventRow[],
  ): Promise<{ inserted: number; refused: Array<{ row: EventRow; reason: string }> } | undefined> {
    const signal = this.stopping.signal;
    for (;;) {
      try {
        if (!this.tableReady) await this.createTable();
        const started = performance.now();
        const result = await this.insertAll(rows);
        const ms = performance.now() - started;
        this.latency.add(ms);
        this.metrics?.observeBatch(rows.length, ms / 1000);
        this.writeBackoff.reset();
        if (this.postgresDown) {
          this.postgresDown = false;
          this.log.info('realtime worker: postgres is back; writing and acknowledging again');
        }
        return result;
      } catch (error) {
        this.counts.writeErrors++;
        if (isMissingTable(error)) this.tableReady = false;
        const message = describePgError(error);
        if (!this.postgresDown) {
          this.postgresDown = true;
          this.log.warn(
            `realtime worker: cannot write to postgres (${message}); holding ${rows.length} ` +
              'entries, acknowledging nothing, retrying with backoff (degraded)',
          );
        } else this.logError('postgres', message);
        if (signal.aborted) return undefined;
        await sleep(this.writeBackoff.next(), signal);
        if (signal.aborted) return undefined;
      }
    }
  }

  /** One statement for the batch; if Postgres refuses its data, row by row to find out which. */
  private async insertAll(
    rows: EventRow[],
  ): Promise<{ inserted: number; refused: Array<{ row: EventRow; reason: string }> }> {
    try {
      return { inserted: await this.insert(rows), refused: [] };
    } catch (error) {
      if (!isPoisonError(error)) throw error;
    }
    let inserted = 0;
    const refused: Array<{ row: EventRow; reason: string }> = [];
    for (const row of rows) {
      try {
        inserted += await this.insert([row]);
      } catch (error) {
        if (!isPoisonError(error)) throw error;
        refused.push({ row, reason: `refused by postgres: ${(error as Error).message}` });
      }
    }
    return { inserted, refused };
  }

  private async insert(rows: readonly EventRow[]): Promise<number> {
    const o = this.o;
    // query_timeout ends the query and drops its connection; `within` also covers a pool of
    // the application's whose connect() has no timeout.
    const query = this.c!.pool.query({
      name: this.sql.insertName,
      text: this.sql.insert,
      values: insertValues(rows),
      query_timeout: o.statementTimeoutMs,
    } as pg.QueryConfig);
    const result = await within(
      query,
      o.statementTimeoutMs + 5000,
      `no answer from postgres within ${o.statementTimeoutMs + 5000} ms`,
    );
    return result.rowCount ?? 0;
  }

  private async createTable(): Promise<void> {
    if (!this.o.createTable) {
      throw Object.assign(
        new Error(`table ${this.o.table} does not exist, and createTable is false`),
        { code: '42P01' },
      );
    }
    await within(
      this.c!.pool.query(this.sql.create),
      this.o.statementTimeoutMs,
      `could not create table ${this.o.table} within ${this.o.statementTimeoutMs} ms`,
    );
    this.tableReady = true;
  }

  private async createGroup(): Promise<void> {
    const o = this.o;
    try {
      // From 0, not $: a new group persists what the stream already holds.
      await this.c!.control.xgroup('CREATE', o.stream, o.group, '0', 'MKSTREAM');
      this.log.info(`realtime worker: created consumer group ${o.group} on ${o.stream}`);
    } catch (error) {
      if (!(error as Error).message.startsWith('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
    void this.readGroupInfo();
  }

  /**
   * Moves entries that can never be written to the dead-letter stream, and marks them to be
   * acknowledged. Retries while Redis is away; false when close() came first.
   */
  private async deadLetter(items: Array<{ entry: StreamEntry; reason: string }>): Promise<boolean> {
    const o = this.o;
    const signal = this.stopping.signal;
    for (;;) {
      try {
        const pipeline = this.c!.control.pipeline();
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
        this.flushBackoff.reset();
        break;
      } catch (error) {
        this.counts.redisErrors++;
        this.logError('redis', describeRedisError(error));
        if (signal.aborted) return false;
        await sleep(this.flushBackoff.next(), signal);
        if (signal.aborted) return false;
      }
    }
    this.unacked.push(...items.map(({ entry }) => entry.id));
    this.counts.deadLettered += items.length;
    const first = items[0]!;
    this.logs.warn(
      'dead-letter',
      `realtime worker: moved ${items.length} entries of ${o.stream} to ${o.deadLetterStream}, ` +
        `the first ${first.entry.id} (${first.reason}); ${this.counts.deadLettered} so far`,
    );
    return true;
  }

  /** XACKs `unacked`; on failure puts the ids back, for the next try. */
  private async acknowledge(): Promise<void> {
    const ids = this.unacked;
    if (ids.length === 0) return;
    this.unacked = [];
    try {
      await this.c!.control.xack(this.o.stream, this.o.group, ...ids);
    } catch (error) {
      this.unacked.push(...ids);
      throw error;
    }
    this.counts.acknowledged += ids.length;
  }

  /** The group's pending count and lag, from XINFO GROUPS. */
  private async readGroupInfo(): Promise<void> {
    const control = this.c?.control;
    if (control?.status !== 'ready') return;
    try {
      const groups = (await control.xinfo('GROUPS', this.o.stream)) as unknown[][];
      for (const flat of groups) {
        const info = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < flat.length; i += 2) info.set(flat[i], flat[i + 1]);
        if (info.get('name') !== this.o.group) continue;
        const lag = info.get('lag');
        this.group = {
          pending: Number(info.get('pending') ?? 0),
          lag: lag === null || lag === undefined ? null : Number(lag),
        };
      }
    } catch {
      // Redis away or the stream gone: the next tick tries again; the loop reports errors.
    }
  }

  /** Logs each loss of Redis and each recovery once. */
  private noteRedis(): void {
    const c = this.c;
    if (c === undefined || this.closing) return;
    const up = c.reader.status === 'ready' && c.control.status === 'ready';
    if (up === this.redisUp) return;
    this.redisUp = up;
    // At start the two connections come up one after the other: only a loss is news.
    if (!up) {
      this.redisLost = true;
      this.log.warn(
        `realtime worker: redis unavailable; holding ${this.held.length} entries, ` +
          'reading and acknowledging nothing until it is back (degraded)',
      );
    } else if (this.redisLost) {
      this.log.info('realtime worker: redis is back; reading again');
    }
  }

  private logError(topic: string, message: string): void {
    if (this.closing) return;
    this.logs.error(`${topic}:${message}`, `realtime worker: ${topic} error: ${message}`);
  }
}

function describePgError(error: unknown): string {
  const e = error as { message?: string; code?: string };
  const code = e.code ? ` [${e.code}]` : '';
  // A connection error can quote the connection string: never log its password.
  return redact(`${e.message || String(error)}${code}`);
}
