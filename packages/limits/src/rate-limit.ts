import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  rateLimit as expressRateLimit,
  type Options,
  type RateLimitRequestHandler,
} from 'express-rate-limit';
import type { Registry } from 'prom-client';
import { LimitsOptionError } from './errors.js';
import { type FallbackStore, RateLimitUnavailableError } from './fallback-store.js';
import { sendRejection } from './http.js';
import { limiterName } from './limiter-name.js';
import { limitsMetrics } from './metrics.js';
import { checkOnRedisError, type OnRedisError } from './options.js';
import { type RedisSource, resolveRedisSource, sharedStore } from './shared-store.js';
import type { Logger, Rejection } from './types.js';

export { closeRateLimits } from './shared-store.js';

/** Options of `rateLimit()`: express-rate-limit's, plus where to share the counts. */
export interface RateLimitOptions extends Omit<Partial<Options>, 'logger'> {
  /**
   * Shares the counts between instances: a `redis://` URL, a Redis Cluster
   * (`redis-cluster://host:port,…`, `{ cluster: seeds }`), a Sentinel set-up
   * (`redis-sentinel://host:port,…/mymaster`), an ioredis client or Cluster (used as is, never
   * closed) or ioredis options. `false`: count per instance, in memory.
   * @default process.env.REDIS_URL, else per instance
   */
  redis?: RedisSource;
  /**
   * Redis key prefix; give each limiter its own.
   * @default 'bancada:rl:'
   */
  prefix?: string;
  /**
   * While Redis fails: `'local'` counts per instance (each allows `limit` on its own),
   * `'open'` lets requests through uncounted, `'closed'` answers 503.
   * @default 'local'
   */
  onRedisError?: OnRedisError;
  /**
   * Names this limiter in log lines and as the `limiter` label of its metrics.
   * @default its prefix without the trailing separator: `'bancada:rl'`, `'rl:login'` for `'rl:login:'`
   */
  name?: string;
  /** A prom-client registry for `bancada_limits_*` metrics. */
  registry?: Registry;
  /**
   * Receives this package's notes and express-rate-limit's own warnings.
   * @default console; false silences it
   */
  logger?: Logger | false;
}

const silent: Logger = { info() {}, warn() {}, error() {} };
const DEFAULT_PREFIX = 'bancada:rl:';

/**
 * express-rate-limit with the defaults most apps want: 100 requests a minute per client,
 * the standard `RateLimit` headers (draft 8), a JSON 429, and the counts kept in Redis when
 * there is one, so five instances allow 100 in total, not 500. If Redis fails, each instance
 * counts on its own until it is back (`onRedisError`), so a login limit never drops to none.
 *
 * @example
 * app.post('/login', rateLimit({ windowMs: 15 * 60_000, limit: 10, prefix: 'rl:login:' }), login);
 */
export function rateLimit(options: RateLimitOptions = {}): RateLimitRequestHandler {
  const {
    redis,
    prefix,
    name: givenName,
    registry,
    logger,
    onRedisError: given,
    passOnStoreError,
    handler: ownHandler,
    store: ownStore,
    ...rest
  } = options;
  const { name, fromPrefix } = limiterName(givenName, prefix, DEFAULT_PREFIX);
  const onRedisError = whenRedisFails(given, passOnStoreError);
  // A store of the caller's: it is theirs to share; no connection of ours.
  const source = ownStore !== undefined ? undefined : resolveRedisSource(redis);
  const log = logger === false ? silent : (logger ?? console);
  // Before the store opens a connection: the registry may refuse the name.
  const metrics = registry
    ? limitsMetrics(registry, name, () => ({ degraded: store?.degraded ?? false }), fromPrefix)
    : undefined;
  const store: FallbackStore | undefined =
    source === undefined
      ? undefined
      : sharedStore(source, prefix ?? DEFAULT_PREFIX, name, onRedisError, log);
  const limiter = expressRateLimit({
    windowMs: 60_000,
    limit: 100,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (req, res, next, used) => {
      metrics?.rejected('rate');
      if (ownHandler) return ownHandler(req, res, next, used);
      const retryAfter = res.getHeader('Retry-After');
      sendTooMany(res as unknown as ServerResponse, Number(retryAfter ?? used.windowMs / 1000));
    },
    // Our store decides what a Redis failure means (onRedisError); only 'closed' throws.
    passOnStoreError: false,
    // express-rate-limit's configuration warnings, in the same place as ours.
    logger: {
      warn: (error, message) =>
        log.warn(`limits: rate limit "${name}": ${message ?? ''} ${String(error)}`.trim()),
      error: (error, message) =>
        log.error(`limits: rate limit "${name}": ${message ?? ''} ${String(error)}`.trim()),
    },
    ...(ownStore ? { store: ownStore } : store ? { store } : {}),
    ...rest,
  });
  // A store that fails closed throws: answer 503 here rather than leave it to the app's
  // error handler (a 500 there would read as a bug).
  const guarded = ((req, res, next) =>
    limiter(req, res, (error?: unknown) => {
      if (!(error instanceof RateLimitUnavailableError)) return next(error as Error);
      metrics?.rejected('unavailable');
      sendRejection(res as unknown as ServerResponse, UNAVAILABLE);
    })) as RateLimitRequestHandler;
  guarded.resetKey = limiter.resetKey;
  guarded.getKey = limiter.getKey;
  return guarded;
}

/**
 * `onRedisError`, or what express-rate-limit's `passOnStoreError` asked for: `true` lets
 * requests through (`'open'`), `false` refuses them (`'closed'`). Both, disagreeing: an error.
 */
function whenRedisFails(given: unknown, passOnStoreError: boolean | undefined): OnRedisError {
  if (given !== undefined) checkOnRedisError(given);
  const implied = passOnStoreError === undefined ? undefined : passOnStoreError ? 'open' : 'closed';
  if (given !== undefined && implied !== undefined && given !== implied) {
    throw new LimitsOptionError(
      `passOnStoreError: ${passOnStoreError} means onRedisError '${implied}', but onRedisError is '${given}': pass one of them`,
    );
  }
  return (given as OnRedisError | undefined) ?? implied ?? 'local';
}

/** What a rate limit that fails closed answers while Redis is away. */
const UNAVAILABLE: Rejection = { status: 503, reason: 'unavailable', retryAfter: 1 };

function sendTooMany(res: ServerResponse, retryAfter: number): void {
  const text = JSON.stringify({
    error: 'rate-limited',
    message: 'Too many requests; try again later.',
    retryAfter,
  });
  res.statusCode = 429;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export type { IncomingMessage };
