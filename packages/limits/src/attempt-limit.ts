import { MemoryStore, type Options, type Store } from 'express-rate-limit';
import type { Registry } from 'prom-client';
import { LimitsOptionError } from './errors.js';
import { limiterName } from './limiter-name.js';
import { limitsMetrics } from './metrics.js';
import { checkOnRedisError, type OnRedisError } from './options.js';
import { type RedisSource, resolveRedisSource, sharedStore } from './shared-store.js';
import type { Logger } from './types.js';

/** Options of `attemptLimit()`. */
export interface AttemptLimitOptions {
  /**
   * How long an attempt counts, in milliseconds (a fixed window from the first one).
   * @default 900_000 (15 minutes)
   */
  windowMs?: number;
  /**
   * Attempts counted per key within the window; at this many, `check()` says no.
   * @default 10
   */
  limit?: number;
  /**
   * Shares the counts between instances: a `redis://` URL, a Redis Cluster
   * (`redis-cluster://host:port,…`, `{ cluster: seeds }`), a Sentinel set-up
   * (`redis-sentinel://host:port,…/mymaster`), an ioredis client or Cluster (used as is, never
   * closed) or ioredis options. `false`: count per instance, in memory.
   * @default process.env.REDIS_URL, else per instance
   */
  redis?: RedisSource;
  /**
   * Redis key prefix; give each limit its own.
   * @default 'bancada:attempts:'
   */
  prefix?: string;
  /**
   * While Redis fails: `'local'` counts per instance, `'open'` counts nothing and allows
   * every attempt, `'closed'` makes `check()` and `record()` reject with
   * RateLimitUnavailableError (answer it with a 503).
   * @default 'local'
   */
  onRedisError?: OnRedisError;
  /**
   * Names this limit in log lines and as the `limiter` label of its metrics.
   * @default its prefix without the trailing separator: `'bancada:attempts'`, `'login:fail'` for `'login:fail:'`
   */
  name?: string;
  /** A prom-client registry for `bancada_limits_*` metrics. */
  registry?: Registry;
  /** @default console; false silences it */
  logger?: Logger | false;
}

/** Where a key stands: `allowed` while its count is below the limit. */
export interface AttemptVerdict {
  allowed: boolean;
  /** Attempts counted in the current window. */
  count: number;
  /** Seconds until the window ends (at least 1): a `Retry-After` for a refusal. */
  retryAfterSeconds: number;
}

/** A limit you check and count separately; see `attemptLimit()`. */
export interface AttemptLimit {
  /** Where `key` stands now, counting nothing. A refusal is counted in the metrics. */
  check(key: string): Promise<AttemptVerdict>;
  /** Counts one attempt for `key` and says where that leaves it. */
  record(key: string): Promise<AttemptVerdict>;
  /** Forgets `key`'s count. */
  reset(key: string): Promise<void>;
  /** Stops its timers and leaves the metrics registry (a Redis connection is closed by `closeRateLimits()`). */
  close(): Promise<void>;
}

const silent: Logger = { info() {}, warn() {}, error() {} };
const DEFAULT_PREFIX = 'bancada:attempts:';

/**
 * A limit whose counting is the caller's to decide, for what `rateLimit()` cannot tell
 * apart at the start of a request: `check()` before the work reads the count without
 * adding to it, `record()` after it counts only what should count (a failed login).
 * rateLimit's `skipSuccessfulRequests` counts every request when it starts and takes a
 * successful one back when it ends, so valid logins in flight at once are refused as if
 * they had failed. Counts are shared through Redis as rateLimit's are, with the same
 * `onRedisError` rules and metrics.
 *
 * Attempts in flight are not counted until recorded: with N checked at once, the count can
 * pass the limit by up to N - 1. Bound N (a queue in front of the work) where that matters.
 *
 * @example
 * const failures = attemptLimit({ windowMs: 15 * 60_000, limit: 10, prefix: 'login:' });
 * const verdict = await failures.check(req.ip);
 * if (!verdict.allowed) return res.set('Retry-After', String(verdict.retryAfterSeconds)).sendStatus(429);
 * if (!(await passwordIsRight(req))) await failures.record(req.ip);
 */
export function attemptLimit(options: AttemptLimitOptions = {}): AttemptLimit {
  if (typeof options !== 'object' || options === null) {
    throw new LimitsOptionError(`options must be an object, got ${typeof options}`);
  }
  const windowMs = options.windowMs ?? 15 * 60_000;
  const limit = options.limit ?? 10;
  const { name, fromPrefix } = limiterName(options.name, options.prefix, DEFAULT_PREFIX);
  const onRedisError = options.onRedisError ?? 'local';
  if (!Number.isInteger(windowMs) || windowMs < 1000) {
    throw new LimitsOptionError(
      `windowMs must be a whole number of milliseconds, at least 1000, got ${windowMs}`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new LimitsOptionError(`limit must be a whole number of at least 1, got ${limit}`);
  }
  checkOnRedisError(onRedisError);
  const log = options.logger === false ? silent : (options.logger ?? console);
  const source = resolveRedisSource(options.redis);
  // Before the store opens a connection: the registry may refuse the name.
  const metrics = options.registry
    ? limitsMetrics(
        options.registry,
        name,
        () => ({ degraded: shared?.degraded ?? false }),
        fromPrefix,
      )
    : undefined;
  const shared =
    source === undefined
      ? undefined
      : sharedStore(source, options.prefix ?? DEFAULT_PREFIX, name, onRedisError, log);
  const store: Store = shared ?? new MemoryStore();
  // The stores read only windowMs from express-rate-limit's options.
  void Promise.resolve(store.init?.({ windowMs } as Options)).catch(() => {});

  const verdict = (count: number, resetTime: Date | undefined): AttemptVerdict => ({
    allowed: count < limit,
    count,
    retryAfterSeconds: Math.max(
      1,
      Math.ceil(((resetTime?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000),
    ),
  });

  return {
    async check(key) {
      const info = await store.get?.(key);
      // rate-limit-redis reads a key that does not exist as NaN hits.
      const count = Number.isFinite(info?.totalHits) ? (info?.totalHits as number) : 0;
      const result = verdict(count, count > 0 ? info?.resetTime : undefined);
      if (!result.allowed) metrics?.rejected('rate');
      return result;
    },
    async record(key) {
      const info = await store.increment(key);
      return verdict(info.totalHits, info.resetTime);
    },
    async reset(key) {
      await store.resetKey(key);
    },
    async close() {
      metrics?.unregister();
      store.shutdown?.();
    },
  };
}
