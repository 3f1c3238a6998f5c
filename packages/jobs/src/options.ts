import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { checkRedisSource, type Logger, type RedisSource, resolveLogger } from '@bancada/internal';
import type { Registry } from 'prom-client';
import { JobsOptionError } from './errors.js';

/**
 * The work of one run. `signal` aborts when this instance must stop running it: `stop()` was
 * called, or the instance lost the lead (another may run the job from then on). Work that
 * can take long should pass the signal on (`fetch(url, { signal })`) or check it.
 */
export type JobFn = (signal: AbortSignal) => unknown;

/** Options of `everyOnce()`. */
export interface EveryOnceOptions {
  /**
   * Where the instances agree on who runs the job: a `redis://` URL, a Redis Cluster
   * (`redis-cluster://host:port,…`, `{ cluster: seeds }`) or a Sentinel set-up
   * (`redis-sentinel://host:port,…/mymaster`, ioredis options with `sentinels` and `name`), or
   * an ioredis client or Cluster (a template only: the job opens and closes its own connections).
   * `false`, or no Redis at all: this instance runs the job on its own (logged at start).
   * @default process.env.REDIS_URL, else this instance only
   */
  redis?: RedisSource | false;
  /**
   * Put before the job's keys, `<prefix>{jobs:<name>}:leader` and `<prefix>{jobs:<name>}:last`.
   * Jobs of one name share a schedule among the instances that share the prefix and Redis.
   * @default ''
   */
  prefix?: string;
  /**
   * How long the lead lasts without renewal (renewed every third of it). An instance that
   * dies is replaced within about this time, so a run is late by at most this much. At most
   * `everyMs`: a longer lease would let a crash cost more than a whole period.
   * @default 10_000, or everyMs when that is shorter
   */
  leaseMs?: number;
  /**
   * Names this instance in the lease, the logs and the stats; unique per job handle.
   * @default `<hostname>-<pid>-<random>`
   */
  instanceId?: string;
  /** Reports `bancada_jobs_runs_total` and `bancada_jobs_leader` to this prom-client registry. */
  registry?: Registry;
  /** @default console; false for none */
  logger?: Logger | false;
}

/** Options after defaults, as the job uses them. */
export interface ResolvedJobOptions {
  name: string;
  everyMs: number;
  fn: JobFn;
  redis: RedisSource | undefined;
  prefix: string;
  leaseMs: number;
  instanceId: string;
  registry: Registry | undefined;
  logger: Logger;
}

/** Letters, digits and `. _ : -`: safe in a Redis key, a hash tag and a metric label. */
const NAME = /^[A-Za-z0-9._:-]{1,100}$/;
/** The longest delay a Node timer takes (a longer one fires at once). */
const MAX_EVERY_MS = 2 ** 31 - 1;
/** Renewed every third: below this a busy event loop would lose the lead all the time. */
const MIN_LEASE_MS = 300;

/** Merges defaults (after dropping undefined) and throws a JobsOptionError for what cannot work. */
export function resolveJobOptions(
  name: string,
  everyMs: number,
  fn: JobFn,
  options: EveryOnceOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedJobOptions {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalid(
      `name must be 1 to 100 letters, digits or . _ : - (it names Redis keys and metrics), got ${describe(name)}`,
    );
  }
  if (!Number.isInteger(everyMs) || everyMs < 1000 || everyMs > MAX_EVERY_MS) {
    throw invalid(
      `everyMs must be a whole number of milliseconds from 1000 to ${MAX_EVERY_MS} (about 24.8 days), got ${describe(everyMs)}`,
    );
  }
  if (typeof fn !== 'function') {
    throw invalid(`the job must be a function (signal) => ..., got ${describe(fn)}`);
  }
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw invalid(`options must be an object, got ${describe(options)}`);
  }
  const o = options ?? {};
  const resolved: ResolvedJobOptions = {
    name,
    everyMs,
    fn,
    // An empty REDIS_URL is an unset one, as a shell or a .env file leaves it.
    redis: o.redis === false ? undefined : (o.redis ?? (env.REDIS_URL || undefined)),
    prefix: o.prefix ?? '',
    leaseMs: o.leaseMs ?? Math.min(10_000, everyMs),
    instanceId: o.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    registry: o.registry,
    logger: resolveLogger(o.logger, invalid),
  };
  validate(resolved);
  return resolved;
}

function validate(o: ResolvedJobOptions): void {
  checkRedisSource(o.redis, invalid, { orFalse: true });
  if (!Number.isInteger(o.leaseMs) || o.leaseMs < MIN_LEASE_MS || o.leaseMs > o.everyMs) {
    throw invalid(
      `leaseMs must be a whole number from ${MIN_LEASE_MS} to everyMs (${o.everyMs}), got ${describe(o.leaseMs)}`,
    );
  }
  if (typeof o.prefix !== 'string') throw invalid('prefix must be a string');
  if (typeof o.instanceId !== 'string' || o.instanceId.length === 0) {
    throw invalid('instanceId must be a non-empty string');
  }
  const registry = o.registry as Partial<Registry> | undefined;
  if (registry !== undefined && typeof registry?.registerMetric !== 'function') {
    throw invalid(
      "registry must be a prom-client Registry (new Registry(), or prom-client's register)",
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

const invalid = (message: string) => new JobsOptionError(message);
