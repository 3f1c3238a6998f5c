import { describeTopology, sleep, topologyOf } from '@bancada/internal';
import { PersistenceWorkerClosedError } from './errors.js';
import { EventTable } from './event-table.js';
import type { GroupStream } from './group-stream.js';
import { MAX_BLOCK_MS } from './group-stream.js';
import { LatencyWindow } from './latency-window.js';
import {
  type PersistenceWorkerOptions,
  type ResolvedWorkerOptions,
  redact,
  resolveWorkerOptions,
} from './options.js';
import { PartitionLane } from './partition-lane.js';
import { deadLetterStreams, partitionCountKey, partitionStreams } from './partitions.js';
import { PersistTracing } from './persist-tracing.js';
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

/** What start() makes: one lane per partition, and the table they all write to. */
interface Parts {
  lanes: PartitionLane[];
  table: EventTable;
}

/** The lifecycle: starts a lane per partition, sums up their stats, closes them. */
class StreamPersister implements PersistenceWorker {
  private readonly stopping = new AbortController();
  private readonly log: WorkerLog;
  private readonly latency = new LatencyWindow();
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
  private partitionsChecked = false;
  private redisUp = false;
  private redisLost = false;

  constructor(private readonly o: ResolvedWorkerOptions) {
    this.log = new WorkerLog(o.logger, this.stopping.signal);
    // At creation, so that a second worker on one registry fails where it is made.
    this.metrics = o.registry && registerWorkerMetrics(o.registry, () => this.stats());
  }

  start(): void {
    if (this.closing) throw new PersistenceWorkerClosedError();
    if (this.loop) return;
    const { o, counts, log, latency, metrics } = this;
    const table = new EventTable(o, this.onPoolError);
    const shared = {
      table,
      counts,
      latency,
      metrics,
      tracing: PersistTracing.open(),
      log,
      closing: this.stopping.signal,
      onUpOrDown: () => this.noteRedis(),
      onGroupReady: (stream: GroupStream) => this.checkPartitions(stream),
    };
    const streams = partitionStreams(o.stream, o.partitions);
    const deadLetters = deadLetterStreams(o.deadLetterStream, o.partitions);
    const lanes = streams.map(
      (stream, i) => new PartitionLane({ ...o, stream, deadLetterStream: deadLetters[i]! }, shared),
    );
    this.parts = { lanes, table };
    this.statsTimer = setInterval(() => void this.readGroupInfo(), o.statsIntervalMs);
    this.statsTimer.unref();
    this.loop = Promise.all(lanes.map((lane) => lane.run())).then(() => {});
    const partitions =
      o.partitions === 1 ? '' : ` in ${o.partitions} partitions (${streams[0]} and on)`;
    log.info(
      `persisting stream ${o.stream}${partitions} from ${this.mode()} ` +
        `(group ${o.group}, consumer ${o.consumer}) ` +
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
    const lanes = this.parts?.lanes ?? [];
    const lags = lanes.map((lane) => lane.group.lag);
    return {
      stream: o.stream,
      partitions: o.partitions,
      group: o.group,
      consumer: o.consumer,
      table: o.table,
      running: this.loop !== undefined && this.closing === undefined,
      degraded: this.degraded,
      pending: lanes.reduce((sum, lane) => sum + lane.group.pending, 0),
      lag: lags.includes(null) ? null : lags.reduce<number>((sum, lag) => sum + (lag ?? 0), 0),
      held: lanes.reduce((sum, lane) => sum + lane.held, 0),
      ...this.counts,
      insertLatency: this.latency.summary(),
    };
  }

  /** `redis`, `redis cluster`, `redis sentinel mymaster`: what the start-up line says. */
  private mode(): string {
    return describeTopology(topologyOf(this.o.redis));
  }

  private get degraded(): boolean {
    const parts = this.parts;
    if (parts === undefined || this.closing) return false;
    return parts.lanes.some((lane) => lane.writer.postgresDown || !this.redisUsable(lane));
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
      if (!finished) for (const lane of parts?.lanes ?? []) lane.stream.dropBlockedRead();
      await this.loop;
    }
    if (parts) {
      await Promise.all(parts.lanes.map((lane) => lane.stream.close()));
      await parts.table.close();
    }
    this.metrics?.unregister();
    if (parts) this.log.info(`stopped (consumer ${this.o.consumer})`);
  }

  private readonly onPoolError = (error: Error) => {
    this.log.error('postgres', `idle connection lost: ${error.message}`);
  };

  private async readGroupInfo(): Promise<void> {
    await Promise.all((this.parts?.lanes ?? []).map((lane) => lane.readGroupInfo()));
  }

  /**
   * Once per worker: records its number of partitions in Redis unless one is there, and says
   * so loudly when another number is: publishers or workers that disagree on it put a room's
   * events in streams that nobody reads, or read in the wrong order.
   */
  private async checkPartitions(stream: GroupStream): Promise<void> {
    if (this.partitionsChecked) return;
    const o = this.o;
    const key = partitionCountKey(o.stream);
    const recorded = await stream.agreePartitions(key, o.partitions);
    this.partitionsChecked = true;
    if (recorded !== o.partitions) {
      this.log.error(
        'worker',
        `[BANCADA_WORKER_PARTITIONS_MISMATCH] this worker reads ${o.stream} in ` +
          `${o.partitions} partition(s), but ${key} says ${recorded}: every publisher and ` +
          'worker of a stream must use the same number. To change it on purpose, stop the ' +
          `publishers, let the workers empty the old partitions, then SET ${key} ${o.partitions}`,
      );
    }
  }

  /** The lane's connections are ready and its last round did not fail on Redis. */
  private redisUsable(lane: PartitionLane): boolean {
    return lane.stream.up && !lane.redisFailing;
  }

  /** Logs each loss of Redis and each recovery once. */
  private noteRedis(): void {
    const parts = this.parts;
    if (parts === undefined || this.closing) return;
    const up = parts.lanes.every((lane) => this.redisUsable(lane));
    if (up === this.redisUp) return;
    this.redisUp = up;
    // At start the connections come up one after the other: only a loss is news.
    if (!up) {
      this.redisLost = true;
      const down = parts.lanes.filter((lane) => !this.redisUsable(lane));
      const held = down.reduce((sum, lane) => sum + lane.gatherer.size, 0);
      const which =
        down.length === parts.lanes.length
          ? ''
          : ` for ${down.length} of ${parts.lanes.length} partitions`;
      this.log.warn(
        `redis unavailable${which}; holding ${held} entries, ` +
          'reading and acknowledging nothing there until it is back (degraded)',
      );
    } else if (this.redisLost) {
      this.log.info('redis is back; reading again');
    }
  }
}
