import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  checkRedisSource,
  checkWholeNumbers,
  type Logger,
  type RedisSource,
  resolveLogger,
} from '@bancada/internal';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { WorkerOptionError } from './errors.js';
import { MAX_PARTITIONS } from './partitions.js';

const invalid = (message: string) => new WorkerOptionError(message);

/** Options of `createPersistenceWorker()`. */
export interface PersistenceWorkerOptions {
  /**
   * The Redis that holds the stream: a URL (`redis://`, `rediss://`, `redis-cluster://h:p,h:p`,
   * `redis-sentinel://h:p,h:p/<master name>`), an ioredis client, `Cluster` or Sentinel-backed
   * `Redis` (only a template: the worker opens and closes its own connections, two per
   * partition, one of them blocks in XREADGROUP), ioredis options (with `sentinels` and
   * `name` for Sentinel) or `{ cluster: ['host:port', …] }`.
   * @default process.env.REDIS_URL
   */
  redis?: RedisSource;
  /** The Redis Stream to persist. Each entry holds one envelope in the field `field`. */
  stream: string;
  /**
   * How many streams `stream` is split into, so that several Redis Cluster masters share the
   * work: partition `i` is the stream `<stream>:{<tag>}` (see `partitionStreams()`), each in a
   * slot of its own; a publisher picks a room's partition with `partitionOf(room, N)` (or
   * `createEventPublisher()` does), so one room keeps its order. Every worker reads every
   * partition. Publishers and workers must agree on N: the workers record it in Redis
   * (`<stream>:partitions`) and log an error when theirs differs. 1 is `stream` itself.
   * @default 1
   */
  partitions?: number;
  /**
   * The consumer group. Workers that share a group share the stream's entries between them;
   * another group persists every entry again (to another table, say).
   * @default 'bancada-persistence'
   */
  group?: string;
  /**
   * This worker's name in the group. A worker restarted under the same name picks up the
   * entries its predecessor left unacknowledged at once; under a new name they come back
   * through XAUTOCLAIM after `claimMinIdleMs`.
   * @default `<hostname>-<pid>-<random>`
   */
  consumer?: string;
  /** A `pg.Pool` of the application's (never ended by the worker). Or `connectionString`. */
  pool?: pg.Pool;
  /**
   * Postgres to write to, when no `pool` is given: the worker opens and ends its own pool.
   * @default process.env.DATABASE_URL
   */
  connectionString?: string;
  /**
   * The table the events go to: a lowercase SQL identifier, optionally `schema.table`.
   * @default 'realtime_events'
   */
  table?: string;
  /**
   * Creates the table (and its `(room, ts)` index) if it is missing. `false` when migrations
   * own the schema: the table must then have the columns documented in the README.
   * @default true
   */
  createTable?: boolean;
  /**
   * The field of a stream entry that holds the envelope, one JSON line.
   * @default 'e'
   */
  field?: string;
  /**
   * A batch is written as soon as it has this many entries.
   * @default 100
   */
  batchSize?: number;
  /**
   * ...or when this long has passed since its first entry arrived, whichever comes first.
   * @default 5000
   */
  batchTimeoutMs?: number;
  /**
   * Entries another consumer has held unacknowledged for this long are taken over with
   * XAUTOCLAIM (that consumer is taken for dead). Keep it well above `batchTimeoutMs` plus
   * `statementTimeoutMs`, or live workers' batches get taken and written twice (harmless,
   * since inserts are idempotent, but wasted work).
   * @default 60_000
   */
  claimMinIdleMs?: number;
  /**
   * How often to look for such entries.
   * @default claimMinIdleMs / 2, between 1 and 30 seconds
   */
  claimIntervalMs?: number;
  /**
   * While Postgres or Redis is away, retries wait from `min` doubling up to `max` ms, each
   * delay jittered (50 to 100% of it) so that workers do not retry in step.
   * @default [100, 5000]
   */
  backoffMs?: [min: number, max: number];
  /**
   * An INSERT that has not answered in this long is given up (its connection dropped) and
   * retried, so a Postgres that hangs cannot stall the worker forever. The worker's own
   * connections give the server the same bound (`statement_timeout`), so the INSERT stops
   * there too; a `pool` of yours keeps its own settings.
   * @default 30_000
   */
  statementTimeoutMs?: number;
  /**
   * Where entries that can never be written go (not JSON, no id, refused by Postgres),
   * with a `reason` field, so they stop blocking the group.
   * @default `<stream>:dead`
   */
  deadLetterStream?: string;
  /**
   * The dead-letter stream is trimmed to about this many entries.
   * @default 100_000
   */
  deadLetterMaxLen?: number;
  /**
   * How often `stats().pending` and `stats().lag` are read from Redis (XINFO GROUPS).
   * @default 5000
   */
  statsIntervalMs?: number;
  /** Reports `bancada_realtime_worker_*` metrics to this prom-client registry. */
  registry?: Registry;
  /** @default console; false for none */
  logger?: Logger | false;
  /**
   * For tests only, not a public contract: called after a batch's INSERT has committed and
   * before its entries are acknowledged, so that a test can kill the process in that window.
   */
  testHooks?: PersistenceWorkerTestHooks;
}

/** See `PersistenceWorkerOptions.testHooks`: for tests only. */
export interface PersistenceWorkerTestHooks {
  afterCommit?(entryIds: readonly string[]): void | Promise<void>;
}

/** Options after defaults, as the worker uses them. */
export interface ResolvedWorkerOptions {
  redis: RedisSource;
  stream: string;
  partitions: number;
  group: string;
  consumer: string;
  pool: pg.Pool | undefined;
  connectionString: string | undefined;
  table: string;
  createTable: boolean;
  field: string;
  batchSize: number;
  batchTimeoutMs: number;
  claimMinIdleMs: number;
  claimIntervalMs: number;
  backoffMs: [number, number];
  statementTimeoutMs: number;
  deadLetterStream: string;
  deadLetterMaxLen: number;
  statsIntervalMs: number;
  registry: Registry | undefined;
  logger: Logger;
  testHooks: PersistenceWorkerTestHooks;
}

/** `schema.table` or `table`, each part a lowercase identifier of at most 63 characters. */
const TABLE_NAME = /^(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/;
/** Postgres would not complain, but one batch is one statement: keep its arrays sane. */
const MAX_BATCH_SIZE = 10_000;

/**
 * Merges defaults (after dropping undefined) and throws a WorkerOptionError for what
 * cannot work; logs a warning for what works badly.
 */
export function resolveWorkerOptions(
  options: PersistenceWorkerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedWorkerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new WorkerOptionError(
      'createPersistenceWorker() needs an options object with at least `stream`',
    );
  }
  const given = Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as PersistenceWorkerOptions;
  const claimMinIdleMs = given.claimMinIdleMs ?? 60_000;
  const resolved: ResolvedWorkerOptions = {
    redis: given.redis ?? (env.REDIS_URL || ''),
    stream: given.stream,
    partitions: given.partitions ?? 1,
    group: given.group ?? 'bancada-persistence',
    consumer: given.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    pool: given.pool,
    connectionString:
      given.pool === undefined ? (given.connectionString ?? (env.DATABASE_URL || '')) : undefined,
    table: given.table ?? 'realtime_events',
    createTable: given.createTable ?? true,
    field: given.field ?? 'e',
    batchSize: given.batchSize ?? 100,
    batchTimeoutMs: given.batchTimeoutMs ?? 5000,
    claimMinIdleMs,
    claimIntervalMs:
      given.claimIntervalMs ??
      Math.min(30_000, Math.max(1000, Math.floor(claimMinIdleMs / 2) || 1)),
    backoffMs: given.backoffMs ?? [100, 5000],
    statementTimeoutMs: given.statementTimeoutMs ?? 30_000,
    deadLetterStream: given.deadLetterStream ?? `${given.stream}:dead`,
    deadLetterMaxLen: given.deadLetterMaxLen ?? 100_000,
    statsIntervalMs: given.statsIntervalMs ?? 5000,
    registry: given.registry,
    logger: resolveLogger(given.logger, invalid),
    testHooks: given.testHooks ?? {},
  };
  validate(resolved, given);
  warnAboutSuspicious(resolved);
  return resolved;
}

function validate(o: ResolvedWorkerOptions, given: PersistenceWorkerOptions): void {
  if (typeof o.stream !== 'string' || o.stream.length === 0) {
    throw new WorkerOptionError('stream is required: the name of the Redis Stream to persist');
  }
  if (o.redis === '') {
    throw new WorkerOptionError(
      'redis is required: pass a redis:// (or redis-cluster://, redis-sentinel://) URL, ' +
        'an ioredis client or options, or set REDIS_URL',
    );
  }
  checkRedisSource(o.redis, invalid);
  if (!Number.isInteger(o.partitions) || o.partitions < 1 || o.partitions > MAX_PARTITIONS) {
    throw new WorkerOptionError(
      `partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${o.partitions}`,
    );
  }
  if (o.partitions > 1 && /[{}]/.test(o.stream)) {
    throw new WorkerOptionError(
      `stream must not contain { or } with partitions above 1 (each partition's name ` +
        `carries a hash tag of its own), got ${JSON.stringify(o.stream)}`,
    );
  }
  if (given.pool !== undefined && given.connectionString !== undefined) {
    throw new WorkerOptionError(
      'give either pool or connectionString, not both: the worker would not know which to use',
    );
  }
  if (o.pool !== undefined && typeof o.pool.query !== 'function') {
    throw new WorkerOptionError('pool must be a pg.Pool (something with a query() method)');
  }
  if (o.pool === undefined) {
    if (o.connectionString === '') {
      throw new WorkerOptionError(
        'Postgres is required: pass pool or connectionString, or set DATABASE_URL',
      );
    }
    if (
      typeof o.connectionString !== 'string' ||
      !/^postgres(?:ql)?:\/\//.test(o.connectionString)
    ) {
      throw new WorkerOptionError(
        `connectionString must start with postgres:// or postgresql://, got "${redact(String(o.connectionString))}"`,
      );
    }
  }
  for (const name of ['group', 'consumer', 'field', 'deadLetterStream'] as const) {
    if (typeof o[name] !== 'string' || o[name].length === 0) {
      throw new WorkerOptionError(`${name} must be a non-empty string`);
    }
  }
  if (o.deadLetterStream === o.stream) {
    throw new WorkerOptionError('deadLetterStream must not be the stream itself');
  }
  if (typeof o.table !== 'string' || !TABLE_NAME.test(o.table)) {
    throw new WorkerOptionError(
      `table must be a lowercase SQL identifier (a-z, 0-9, _; not starting with a digit), ` +
        `optionally schema.table, got ${JSON.stringify(o.table)}`,
    );
  }
  if (typeof o.createTable !== 'boolean') {
    throw new WorkerOptionError('createTable must be true or false');
  }
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > MAX_BATCH_SIZE) {
    throw new WorkerOptionError(
      `batchSize must be a whole number from 1 to ${MAX_BATCH_SIZE}, got ${o.batchSize}`,
    );
  }
  checkWholeNumbers(
    o,
    [
      'batchTimeoutMs',
      'claimMinIdleMs',
      'claimIntervalMs',
      'statementTimeoutMs',
      'deadLetterMaxLen',
      'statsIntervalMs',
    ],
    invalid,
  );
  const [min, max] = Array.isArray(o.backoffMs) ? o.backoffMs : [Number.NaN, Number.NaN];
  if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 1 && max >= min)) {
    throw new WorkerOptionError(
      `backoffMs must be [min, max] milliseconds with 1 <= min <= max, got ${JSON.stringify(o.backoffMs)}`,
    );
  }
  if (typeof o.testHooks !== 'object' || o.testHooks === null) {
    throw new WorkerOptionError('testHooks must be an object');
  }
}

/** Legal but likely a mistake: said once, when the worker is made. */
function warnAboutSuspicious(o: ResolvedWorkerOptions): void {
  if (o.claimMinIdleMs <= o.batchTimeoutMs) {
    o.logger.warn(
      `realtime worker [BANCADA_WORKER_CLAIM_TOO_EAGER]: claimMinIdleMs (${o.claimMinIdleMs}) ` +
        `is not above batchTimeoutMs (${o.batchTimeoutMs}): workers will take each other's ` +
        'batches while they are still being gathered, and write them twice',
    );
  }
}

/** A connection string without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
