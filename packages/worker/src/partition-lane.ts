import { Backoff, sleep } from '@bancada/internal';
import { AckQueue } from './ack-queue.js';
import { BatchWriter } from './batch-writer.js';
import type { StreamEntry } from './entries.js';
import type { EventTable } from './event-table.js';
import { BatchGatherer } from './gatherer.js';
import { GroupStream } from './group-stream.js';
import type { LatencyWindow } from './latency-window.js';
import type { ResolvedWorkerOptions } from './options.js';
import type { PersistTracing } from './persist-tracing.js';
import { explainRedisError, isNoGroup } from './stream-replies.js';
import type { WorkerCounts } from './types.js';
import type { WorkerLog } from './worker-log.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** What the lanes of one worker share: the table, the counters, the log. */
export interface SharedParts {
  table: EventTable;
  counts: WorkerCounts;
  latency: LatencyWindow;
  metrics: WorkerMetrics | undefined;
  /** Spans for batches holding traced events; undefined without OpenTelemetry. */
  tracing: PersistTracing | undefined;
  log: WorkerLog;
  closing: AbortSignal;
  /** Redis came or went on one of the lane's connections. */
  onUpOrDown(): void;
  /** Called once the lane's group exists (each time it is created again, too). */
  onGroupReady?(stream: GroupStream): Promise<void>;
}

/**
 * One partition's loop: its consumer group on its own connections, its batch being gathered
 * and the one being written, its acknowledgements. `o` is the worker's options with `stream`
 * and `deadLetterStream` naming the partition's.
 */
export class PartitionLane {
  readonly stream: GroupStream;
  readonly gatherer: BatchGatherer;
  readonly writer: BatchWriter;
  private readonly acks: AckQueue;
  private readonly redisBackoff: Backoff;
  /**
   * The batch being written, while the next one is gathered: reading overlaps writing, so
   * a lane holds at most two batches.
   */
  private writing: { batch: StreamEntry[]; done: Promise<void> } | undefined;
  private groupReady = false;
  private failing = false;
  /** The group's backlog, as last read (XINFO GROUPS). */
  group = { pending: 0, lag: null as number | null };

  constructor(
    private readonly o: ResolvedWorkerOptions,
    private readonly p: SharedParts,
  ) {
    const { log, counts, closing } = p;
    this.redisBackoff = new Backoff(o.backoffMs[0], o.backoffMs[1]);
    this.stream = new GroupStream(o, {
      onError: (error) => log.error('redis', explainRedisError(error)),
      onUpOrDown: p.onUpOrDown,
    });
    this.acks = new AckQueue(this.stream, counts);
    const writing = () => this.writing?.batch ?? [];
    this.gatherer = new BatchGatherer(o, {
      stream: this.stream,
      acks: this.acks,
      counts,
      log,
      closing,
      writing,
    });
    this.writer = new BatchWriter(o, { ...p, stream: this.stream, acks: this.acks });
  }

  /**
   * From a round that failed on Redis until one succeeds: on a Redis Cluster the client stays
   * ready while one master is away and its commands fail, so readiness alone would not tell.
   */
  get redisFailing(): boolean {
    return this.failing;
  }

  /** Entries this lane holds: gathered, or being written. */
  get held(): number {
    return this.gatherer.size + (this.writing?.batch.length ?? 0);
  }

  /** Rounds until closed; never throws: every failure is logged and retried after a backoff. */
  async run(): Promise<void> {
    const { acks, gatherer, writer } = this;
    const signal = this.p.closing;
    while (!signal.aborted) {
      try {
        await this.round();
        this.redisBackoff.reset();
        this.setFailing(false);
      } catch (error) {
        this.p.counts.redisErrors++;
        this.setFailing(true);
        // The stream or its group is gone (a Redis restarted without persistence, a Cluster
        // master failed over before it was replicated): create it again.
        if (isNoGroup(error)) this.groupReady = false;
        // Read this consumer's pending entries again once Redis answers: after a failover,
        // acknowledgements the old master had not replicated left some pending again.
        gatherer.startOver();
        this.p.log.error('redis', explainRedisError(error));
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

  private setFailing(failing: boolean): void {
    if (failing === this.failing) return;
    this.failing = failing;
    this.p.onUpOrDown();
  }

  /** The group's pending count and lag, for `stats()`. */
  async readGroupInfo(): Promise<void> {
    const info = await this.stream.groupInfo();
    if (info) this.group = info;
  }

  /** Gathers one batch (while the last one is being written), then hands it to be written. */
  private async round(): Promise<void> {
    const { stream, acks, gatherer } = this;
    const signal = this.p.closing;
    if (!(await stream.ready(signal))) return;
    if (!this.groupReady) await this.createGroup();
    if (acks.size > 0) await acks.acknowledge();
    await gatherer.gather();
    if (signal.aborted) return;
    await this.writing?.done;
    if (gatherer.size > 0) this.startWriting();
  }

  private startWriting(): void {
    const batch = this.gatherer.take();
    const writing = { batch, done: this.writer.write(batch) };
    this.writing = writing;
    void writing.done.then(() => {
      if (this.writing === writing) this.writing = undefined;
    });
  }

  private async createGroup(): Promise<void> {
    const o = this.o;
    if (await this.stream.createGroup()) {
      this.p.log.info(`created consumer group ${o.group} on ${o.stream}`);
    }
    await this.p.onGroupReady?.(this.stream);
    this.groupReady = true;
    void this.readGroupInfo();
  }
}
