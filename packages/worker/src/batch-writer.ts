import { Backoff, sleep } from '@bancada/internal';
import type { AckQueue } from './ack-queue.js';
import { type EventRow, parseEntries, type StreamEntry } from './entries.js';
import type { EventTable, Written } from './event-table.js';
import type { GroupStream, Refused } from './group-stream.js';
import type { LatencyWindow } from './latency-window.js';
import { type ResolvedWorkerOptions, redact } from './options.js';
import type { PersistTracing } from './persist-tracing.js';
import { explainRedisError } from './stream-replies.js';
import type { WorkerCounts } from './types.js';
import type { WorkerLog } from './worker-log.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** What a BatchWriter works with: the worker's parts and its bookkeeping. */
export interface WriterParts {
  table: EventTable;
  stream: GroupStream;
  acks: AckQueue;
  counts: WorkerCounts;
  /** Durations of recent INSERTs, for `stats()`. */
  latency: LatencyWindow;
  metrics: WorkerMetrics | undefined;
  /** Spans of batches that hold traced events; undefined without @opentelemetry/api. */
  tracing: PersistTracing | undefined;
  log: WorkerLog;
  /** Aborted by close(): from then on a write is tried once, never retried. */
  closing: AbortSignal;
}

/**
 * Writes the batches the loop hands it: moves what can never be written to the dead-letter
 * stream, INSERTs the rest in one statement, and acknowledges only after it committed.
 * Postgres and Redis failures are retried with backoff for as long as the worker runs.
 */
export class BatchWriter {
  private readonly writeBackoff: Backoff;
  private readonly deadLetterBackoff: Backoff;
  private postgresAway = false;

  constructor(
    private readonly o: ResolvedWorkerOptions,
    private readonly p: WriterParts,
  ) {
    this.writeBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    this.deadLetterBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
  }

  /** True from a failed write until one succeeds. */
  get postgresDown(): boolean {
    return this.postgresAway;
  }

  /**
   * Writes a batch; never rejects. A batch abandoned on close() (Postgres or Redis away) is
   * not acknowledged: it stays pending in Redis and comes back to a worker through XAUTOCLAIM.
   */
  async write(batch: StreamEntry[]): Promise<void> {
    const { counts } = this.p;
    try {
      const { rows, malformed } = parseEntries(batch, this.o.field);
      if (malformed.length > 0 && !(await this.deadLetter(malformed))) return;
      if (rows.length > 0) {
        const result = await this.writeRows(rows);
        if (result === undefined) return;
        const refused = new Set(result.refused.map(({ row }) => row.streamId));
        counts.batches++;
        counts.lastBatchSize = rows.length;
        counts.inserted += result.inserted;
        counts.duplicates += rows.length - result.refused.length - result.inserted;
        const written = rows.filter((row) => !refused.has(row.streamId)).map((row) => row.streamId);
        await this.o.testHooks.afterCommit?.(written);
        this.p.acks.add(written);
        if (result.refused.length > 0) {
          const byId = new Map(batch.map((entry) => [entry.id, entry]));
          const items = result.refused.map(({ row, reason }) => ({
            entry: byId.get(row.streamId)!,
            reason,
          }));
          if (!(await this.deadLetter(items))) return;
        }
      }
      // If this fails, the ids stay queued and the loop's next round acknowledges them.
      await this.p.acks.acknowledge().catch((error: unknown) => this.redisFailed(error));
    } catch (error) {
      // Not expected (a bug, or a test hook that threw): the batch stays pending in Redis.
      this.p.log.error('worker', (error as Error).stack ?? String(error));
    }
  }

  /** The rows written, or undefined when close() came first. */
  private async writeRows(rows: EventRow[]): Promise<Written | undefined> {
    const span = this.p.tracing?.start(rows, this.o.stream, this.o.table);
    const result = await this.retrying(
      () => this.p.table.write(rows),
      (error) => this.writeFailed(error, rows.length),
      this.writeBackoff,
    );
    span?.end(result?.inserted);
    if (result === undefined) return undefined;
    this.p.latency.add(result.ms);
    this.p.metrics?.observeBatch(rows.length, result.ms / 1000);
    if (this.postgresAway) {
      this.postgresAway = false;
      this.p.log.info('postgres is back; writing and acknowledging again');
    }
    return result;
  }

  private writeFailed(error: unknown, held: number): void {
    this.p.counts.writeErrors++;
    const message = describePgError(error);
    if (this.postgresAway) {
      this.p.log.error('postgres', message);
      return;
    }
    this.postgresAway = true;
    this.p.log.warn(
      `cannot write to postgres (${message}); holding ${held} entries, ` +
        'acknowledging nothing, retrying with backoff (degraded)',
    );
  }

  /**
   * Moves entries that can never be written to the dead-letter stream, and queues them to be
   * acknowledged. False when close() came first.
   */
  private async deadLetter(items: Refused[]): Promise<boolean> {
    const o = this.o;
    const { counts } = this.p;
    const moved = await this.retrying(
      () => this.p.stream.deadLetter(items).then(() => true),
      (error) => this.redisFailed(error),
      this.deadLetterBackoff,
    );
    if (moved === undefined) return false;
    this.p.acks.add(items.map(({ entry }) => entry.id));
    counts.deadLettered += items.length;
    const first = items[0]!;
    this.p.log.warn(
      `moved ${items.length} entries of ${o.stream} to ${o.deadLetterStream}, ` +
        `the first ${first.entry.id} (${first.reason}); ${counts.deadLettered} so far`,
      'dead-letter',
    );
    return true;
  }

  private redisFailed(error: unknown): void {
    this.p.counts.redisErrors++;
    this.p.log.error('redis', explainRedisError(error));
  }

  /**
   * Tries `attempt` until it succeeds, waiting `backoff` between tries. Undefined once
   * close() has come: a try that fails then is not repeated.
   */
  private async retrying<T>(
    attempt: () => Promise<T>,
    failed: (error: unknown) => void,
    backoff: Backoff,
  ): Promise<T | undefined> {
    const closing = this.p.closing;
    for (;;) {
      try {
        const value = await attempt();
        backoff.reset();
        return value;
      } catch (error) {
        failed(error);
        if (closing.aborted) return undefined;
        await sleep(backoff.next(), closing);
        if (closing.aborted) return undefined;
      }
    }
  }
}

function describePgError(error: unknown): string {
  const e = error as { message?: string; code?: string };
  const code = e.code ? ` [${e.code}]` : '';
  // A connection error can quote the connection string: never log its password.
  return redact(`${e.message || String(error)}${code}`);
}
