import type { AckQueue } from './ack-queue.js';
import type { StreamEntry } from './entries.js';
import { type GroupStream, MAX_BLOCK_MS } from './group-stream.js';
import type { ResolvedWorkerOptions } from './options.js';
import type { WorkerCounts } from './types.js';
import type { WorkerLog } from './worker-log.js';

/** What a BatchGatherer works with. */
export interface GathererParts {
  stream: GroupStream;
  acks: AckQueue;
  counts: WorkerCounts;
  log: WorkerLog;
  closing: AbortSignal;
  /** The batch being written meanwhile, if any: its entries are this worker's already. */
  writing(): readonly StreamEntry[];
}

/**
 * Gathers the next batch from the group: first what an earlier run under this consumer
 * name left pending, then what dead consumers left (XAUTOCLAIM, every claimIntervalMs),
 * then new entries, until the batch is full or due.
 */
export class BatchGatherer {
  /** The batch being gathered: read from the stream, not written, not acknowledged. */
  private gathering: StreamEntry[] = [];
  /** When the batch being gathered must be written, full or not. */
  private deadline: number | undefined;
  /** Reading the entries an earlier run under this consumer name left pending, from here. */
  private ownHistoryFrom: string | undefined = '0-0';
  private claimCursor = '0-0';
  private nextClaimAt = 0;

  constructor(
    private readonly o: ResolvedWorkerOptions,
    private readonly p: GathererParts,
  ) {}

  /** Entries gathered so far. */
  get size(): number {
    return this.gathering.length;
  }

  /** Hands the batch over to be written; the next one starts empty. */
  take(): StreamEntry[] {
    const batch = this.gathering;
    this.gathering = [];
    this.deadline = undefined;
    return batch;
  }

  /**
   * Reads this consumer's pending entries again at the next round: the group is gone (a Redis
   * restarted empty), or Redis failed (a failover: acknowledgements the old master had not
   * replicated left entries pending under this name, which would otherwise wait for a claim).
   */
  startOver(): void {
    this.ownHistoryFrom = '0-0';
  }

  /** Fills the batch up to batchSize, or until its deadline, an idle read, or close(). */
  async gather(): Promise<void> {
    const o = this.o;
    if (this.ownHistoryFrom !== undefined && this.gathering.length < o.batchSize) {
      await this.readOwnHistory();
      if (this.gathering.length > 0) return; // left by this consumer's last run: write it now
    }
    if (Date.now() >= this.nextClaimAt && this.gathering.length < o.batchSize) await this.claim();
    while (this.gathering.length < o.batchSize && !this.p.closing.aborted) {
      const left = this.deadline === undefined ? MAX_BLOCK_MS : this.deadline - Date.now();
      if (left <= 0) return;
      const entries = await this.p.stream.readNew(
        o.batchSize - this.gathering.length,
        Math.max(1, Math.min(MAX_BLOCK_MS, Math.ceil(left))),
      );
      if (entries.length > 0) this.add(entries);
      else if (this.deadline === undefined) return; // idle: go round (claims, close)
    }
  }

  private add(entries: StreamEntry[]): void {
    if (this.gathering.length === 0) this.deadline = Date.now() + this.o.batchTimeoutMs;
    for (const entry of entries) this.gathering.push(entry);
  }

  /** Entries delivered to this consumer name before (a restart) and never acknowledged. */
  private async readOwnHistory(): Promise<void> {
    const { entries, gone, lastId } = await this.p.stream.readOwn(
      this.ownHistoryFrom!,
      this.o.batchSize - this.gathering.length,
    );
    this.ownHistoryFrom = lastId;
    // Deleted from the stream while pending (trimmed): nothing left to write.
    if (gone.length > 0) {
      this.p.acks.add(gone);
      this.warnGone(gone.length);
    }
    // Read again after an outage: what this worker holds already is pending under its name too.
    const mine = this.held();
    const fresh = entries.filter((entry) => !mine.has(entry.id));
    if (fresh.length > 0) this.add(fresh);
  }

  /** Ids of the entries this worker holds: being gathered or being written. */
  private held(): Set<string> {
    return new Set([...this.gathering, ...this.p.writing()].map((entry) => entry.id));
  }

  /** Takes over entries that other (dead) consumers left pending for claimMinIdleMs. */
  private async claim(): Promise<void> {
    const o = this.o;
    const { cursor, entries, gone } = await this.p.stream.claim(
      this.claimCursor,
      o.batchSize - this.gathering.length,
    );
    this.claimCursor = cursor;
    // A scan that is not over goes on at the next round, else after claimIntervalMs.
    if (cursor === '0-0') this.nextClaimAt = Date.now() + o.claimIntervalMs;
    if (gone.length > 0) this.warnGone(gone.length);
    const mine = this.held();
    const taken = entries.filter((entry) => !mine.has(entry.id));
    if (taken.length === 0) return;
    this.p.counts.claimed += taken.length;
    this.add(taken);
    this.p.log.info(
      `took over ${taken.length} entries of ${o.stream} left pending ` +
        `for over ${o.claimMinIdleMs} ms (${this.p.counts.claimed} so far)`,
      'claim',
    );
  }

  private warnGone(count: number): void {
    this.p.log.warn(
      `${count} pending entries were deleted from ${this.o.stream} before ` +
        'they could be written (trimmed with MAXLEN?): they are lost',
      'gone',
    );
  }
}
