import { Backoff, describeRedisError, sleep } from '@bancada/internal';
import { AckQueue } from './ack-queue.js';
import { BatchWriter } from './batch-writer.js';
import type { StreamEntry } from './entries.js';
import { PersistenceWorkerClosedError } from './errors.js';
import { EventTable } from './event-table.js';
import { BatchGatherer } from './gatherer.js';
import { GroupStream, MAX_BLOCK_MS } from './group-stream.js';
import { LatencyWindow } from './latency-window.js';
import {
  type PersistenceWorkerOptions,
  type ResolvedWorkerOptions,
  redact,
  resolveWorkerOptions,
} from './options.js';
import { PersistTracing } from './persist-tracing.js';
import { isNoGroup } from './stream-replies.js';
import type { PersistenceWorker, PersistenceWorkerStats, WorkerCounts } from './types.js';
import { WorkerLog } from './worker-log.js';
import { registerWorkerMetrics, type WorkerMetrics } from './worker-metrics.js';

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

/** What start() makes: Redis on one side, Postgres on the other, the batch in between. */
interface Parts {
  stream: GroupStream;
  table: EventTable;
  acks: AckQueue;
  gatherer: BatchGatherer;
  writer: BatchWriter;
}

/** The loop and the lifecycle: gathers a batch while the last one is written, until close(). */
class StreamPersister implements PersistenceWorker {
  private readonly stopping = new AbortController();
  private readonly log: WorkerLog;
  private readonly latency = new LatencyWindow();
  private readonly redisBackoff: Backoff;
  private readonly metrics: WorkerMetrics | undefined;
  private readonly counts: WorkerCounts = {
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
  private parts: Parts | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /**
   * The batch being written, while the next one is gathered: reading overlaps writing, so
   * a worker holds at most two batches.
   */
  private writing: { batch: StreamEntry[]; done: Promise<void> } | undefined;
  private groupReady = false;
  private redisUp = false;
  private redisLost = false;
  private group = { pending: 0, lag: null as number | null };

  constructor(private readonly o: ResolvedWorkerOptions) {
    this.log = new WorkerLog(o.logger, this.stopping.signal);
    this.redisBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    // At creation, so that a second worker on one registry fails where it is made.
    this.metrics = o.registry && registerWorkerMetrics(o.registry, () => this.stats());
  }

  start(): void {
    if (this.closing) throw new PersistenceWorkerClosedError();
    if (this.loop) return;
    const { o, counts, log, latency, metrics } = this;
    const closing = this.stopping.signal;
    const stream = new GroupStream(o, {
      onError: (error) => log.error('redis', describeRedisError(error)),
      onUpOrDown: () => this.noteRedis(),
    });
    const table = new EventTable(o, this.onPoolError);
    const acks = new AckQueue(stream, counts);
    const writing = () => this.writing?.batch ?? [];
    const gatherer = new BatchGatherer(o, { stream, acks, counts, log, closing, writing });
    const writer = new BatchWriter(o, {
      table,
      stream,
      acks,
      counts,
      latency,
      metrics,
      tracing: PersistTracing.open(),
      log,
      closing,
    });
    this.parts = { stream, table, acks, gatherer, writer };
    this.statsTimer = setInterval(() => void this.readGroupInfo(), o.statsIntervalMs);
    this.statsTimer.unref();
    this.loop = this.run();
    log.info(
      `persisting stream ${o.stream} (group ${o.group}, consumer ${o.consumer}) ` +
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
      held: (this.parts?.gatherer.size ?? 0) + (this.writing?.batch.length ?? 0),
      ...this.counts,
      insertLatency: this.latency.summary(),
    };
  }

  private get degraded(): boolean {
    const parts = this.parts;
    if (parts === undefined || this.closing) return false;
    return parts.writer.postgresDown || !parts.stream.up;
  }

  private async shutdown(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.statsTimer);
    const parts = this.parts;
    if (this.loop) {
      const finished = await Promise.race([
        this.loop.then(() => true),
        sleep(MAX_BLOCK_MS * 4).then(() => false),
      ]);
      if (!finished) parts?.stream.dropBlockedRead();
      await this.loop;
    }
    if (parts) {
      await parts.stream.close();
      await parts.table.close();
    }
    this.metrics?.unregister();
    if (parts) this.log.info(`stopped (consumer ${this.o.consumer})`);
  }

  private readonly onPoolError = (error: Error) => {
    this.log.error('postgres', `idle connection lost: ${error.message}`);
  };

  /** Rounds until closed; never throws: every failure is logged and retried after a backoff. */
  private async run(): Promise<void> {
    const { acks, gatherer, writer } = this.parts!;
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
          gatherer.startOver();
        }
        this.log.error('redis', describeRedisError(error));
        await sleep(this.redisBackoff.next(), signal);
      }
    }
    // close(): the batch being written is finished; one gathered meanwhile is tried once,
    // unless Postgres is known to be away (then it is abandoned, unacknowledged, at once).
    await this.writing?.done;
    if (gatherer.size > 0 && !writer.postgresDown) this.startWriting();
    await this.writing?.done;
    // Written before close() but not acknowledged: one last try, else XAUTOCLAIM brings
    // them back to a worker, whose insert skips them.
    if (acks.size > 0) await acks.acknowledge().catch(() => {});
  }

  /** Gathers one batch (while the last one is being written), then hands it to be written. */
  private async round(): Promise<void> {
    const { stream, acks, gatherer } = this.parts!;
    const signal = this.stopping.signal;
    if (!(await stream.ready(signal))) return;
    if (!this.groupReady) await this.createGroup();
    if (acks.size > 0) await acks.acknowledge();
    await gatherer.gather();
    if (signal.aborted) return;
    await this.writing?.done;
    if (gatherer.size > 0) this.startWriting();
  }

  private startWriting(): void {
    const { gatherer, writer } = this.parts!;
    const batch = gatherer.take();
    const writing = { batch, done: writer.write(batch) };
    this.writing = writing;
    void writing.done.then(() => {
      if (this.writing === writing) this.writing = undefined;
    });
  }

  private async createGroup(): Promise<void> {
    const o = this.o;
    if (await this.parts!.stream.createGroup()) {
      this.log.info(`created consumer group ${o.group} on ${o.stream}`);
    }
    this.groupReady = true;
    void this.readGroupInfo();
  }

  /** The group's pending count and lag, for `stats()`. */
  private async readGroupInfo(): Promise<void> {
    const info = await this.parts?.stream.groupInfo();
    if (info) this.group = info;
  }

  /** Logs each loss of Redis and each recovery once. */
  private noteRedis(): void {
    const parts = this.parts;
    if (parts === undefined || this.closing) return;
    const up = parts.stream.up;
    if (up === this.redisUp) return;
    this.redisUp = up;
    // At start the two connections come up one after the other: only a loss is news.
    if (!up) {
      this.redisLost = true;
      this.log.warn(
        `redis unavailable; holding ${parts.gatherer.size} entries, ` +
          'reading and acknowledging nothing until it is back (degraded)',
      );
    } else if (this.redisLost) {
      this.log.info('redis is back; reading again');
    }
  }
}
