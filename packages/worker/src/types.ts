/** `worker.stats()`: counters since the worker was made, and the group's backlog. */
export interface PersistenceWorkerStats {
  stream: string;
  /** How many streams `stream` is split into (1: `stream` itself). */
  partitions: number;
  group: string;
  consumer: string;
  table: string;
  /** Between `start()` and `close()`. */
  running: boolean;
  /** True while Postgres or Redis cannot be reached: nothing is being acknowledged. */
  degraded: boolean;
  /**
   * Entries the group has delivered and nobody has acknowledged yet, all consumers and all
   * partitions together (XINFO GROUPS, read every `statsIntervalMs`).
   */
  pending: number;
  /**
   * Entries in the stream not delivered to the group yet (XINFO GROUPS, Redis 7+; null when
   * Redis cannot tell, for instance after entries were deleted from the middle).
   */
  lag: number | null;
  /** Entries this worker holds right now: read, not yet written or acknowledged. */
  held: number;
  /** Batches written (each one INSERT statement). */
  batches: number;
  /** Rows this worker added to the table. */
  inserted: number;
  /** Rows it wrote that were already there (redelivered entries): the cost of at-least-once. */
  duplicates: number;
  /** Entries it acknowledged (written, or moved to the dead-letter stream). */
  acknowledged: number;
  /** Entries it took over from other consumers with XAUTOCLAIM. */
  claimed: number;
  /** Entries it moved to the dead-letter stream. */
  deadLettered: number;
  /** Entries of the last batch written. */
  lastBatchSize: number;
  /** Duration of the INSERT of recent batches (the last 256), ms. */
  insertLatency: { lastMs: number; p50Ms: number; p99Ms: number };
  /** Writes to Postgres that failed (each retried). */
  writeErrors: number;
  /** Redis commands that failed (each retried). */
  redisErrors: number;
}

/** What `createPersistenceWorker()` returns. */
export interface PersistenceWorker {
  /**
   * Starts reading and writing in the background; returns at once. Redis or Postgres being
   * down is not an error: the worker waits for them (see `stats().degraded`).
   */
  start(): void;
  /**
   * Stops: the batch being written is finished and acknowledged; a batch still being
   * gathered is written once if Postgres answers, else abandoned unacknowledged (it comes
   * back to a worker through XAUTOCLAIM). Then closes the connections the worker opened.
   * Idempotent.
   */
  close(): Promise<void>;
  stats(): PersistenceWorkerStats;
}

/** The counters of `stats()`, kept by the parts of the worker that do what they count. */
export type WorkerCounts = Pick<
  PersistenceWorkerStats,
  | 'batches'
  | 'inserted'
  | 'duplicates'
  | 'acknowledged'
  | 'claimed'
  | 'deadLettered'
  | 'lastBatchSize'
  | 'writeErrors'
  | 'redisErrors'
>;
