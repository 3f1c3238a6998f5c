import { checkRedisSource, type RedisSource, resolveLogger } from '@bancada/internal';
import type { Registry } from 'prom-client';
import type { TrustProxy } from './client-ip.js';
import { LimitsOptionError } from './errors.js';
import type { Logger } from './types.js';

/** What the connection limiter does while Redis is unreachable. */
export type OnRedisError = 'local' | 'open' | 'closed';

/** Options of `connectionLimit()`. */
export interface ConnectionLimitOptions {
  /**
   * Connections one client (IP, or IPv6 subnet) may hold; across all instances with Redis.
   * @default 10
   */
  maxPerIp?: number;
  /**
   * Connections this instance holds in total.
   * @default 10_000
   */
  maxTotal?: number;
  /**
   * Shares the per-IP count between instances: a `redis://` URL, a Redis Cluster
   * (`redis-cluster://host:port,…`, `{ cluster: seeds }`), a Sentinel set-up
   * (`redis-sentinel://host:port,…/mymaster`, ioredis options with `sentinels` and `name`),
   * an ioredis client or Cluster (used as is, never closed by the limiter) or ioredis options.
   * `false`: count per instance.
   * @default process.env.REDIS_URL, else per instance
   */
  redis?: RedisSource | false;
  /**
   * How soon the slots of an instance that stopped (crashed, was killed, or lost Redis) stop
   * counting. Each instance keeps a heartbeat key in Redis with this ttl, set again every
   * third of it: one command per instance, whatever the number of connections.
   * @default 5_000, or leaseTtlMs if that is shorter
   */
  heartbeatTtlMs?: number;
  /**
   * How long a slot stays in Redis unless its instance renews it, which each does every
   * third of this with one script per client address it holds (the cost of renewal). Slots
   * of a stopped instance stop counting after heartbeatTtlMs, and are removed by then or by
   * this ttl; after a Redis restart lost them, renewal puts back the ones still held.
   * @default 30_000
   */
  leaseTtlMs?: number;
  /**
   * While Redis is unreachable: `'local'` counts per instance (each instance allows
   * maxPerIp), `'open'` applies no per-IP limit, `'closed'` turns every connection away.
   * maxTotal always holds.
   * @default 'local'
   */
  onRedisError?: OnRedisError;
  /**
   * Which proxies' X-Forwarded-For to believe, as Express's `trust proxy`. Unset: an Express
   * request's `req.ip` is used as is, and a raw upgrade request trusts no proxy.
   */
  trustProxy?: TrustProxy;
  /**
   * IPv6 clients are counted by this many leading bits (one user commonly has a /64).
   * `false` counts each IPv6 address apart.
   * @default 64
   */
  ipv6Subnet?: number | false;
  /**
   * The `Retry-After` seconds sent with a rejection.
   * @default 10
   */
  retryAfterSeconds?: number;
  /** @default 'bancada:limits:' */
  prefix?: string;
  /**
   * Label of this limiter's metrics.
   * @default 'connections'
   */
  name?: string;
  /** A prom-client registry for `bancada_limits_*` metrics. */
  registry?: Registry;
  /** @default console; false silences it */
  logger?: Logger | false;
}

/** Throws a LimitsOptionError unless `value` is one of the OnRedisError values. */
export function checkOnRedisError(value: unknown): asserts value is OnRedisError {
  if (!['local', 'open', 'closed'].includes(value as string)) {
    throw new LimitsOptionError(`onRedisError must be 'local', 'open' or 'closed', got "${value}"`);
  }
}

export function resolveConnectionLimitOptions(options: ConnectionLimitOptions, env = process.env) {
  if (typeof options !== 'object' || options === null) {
    throw new LimitsOptionError(`options must be an object, got ${typeof options}`);
  }
  const o = {
    maxPerIp: options.maxPerIp ?? 10,
    maxTotal: options.maxTotal ?? 10_000,
    // An empty REDIS_URL counts as unset.
    redis: options.redis === false ? undefined : (options.redis ?? (env.REDIS_URL || undefined)),
    leaseTtlMs: options.leaseTtlMs ?? 30_000,
    heartbeatTtlMs: options.heartbeatTtlMs,
    onRedisError: options.onRedisError ?? 'local',
    trustProxy: options.trustProxy,
    ipv6Subnet: options.ipv6Subnet ?? 64,
    retryAfterSeconds: options.retryAfterSeconds ?? 10,
    prefix: options.prefix ?? 'bancada:limits:',
    name: options.name ?? 'connections',
    registry: options.registry,
    logger: resolveLogger(options.logger, (message) => new LimitsOptionError(message)),
  };
  const wholeAtLeast = (name: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min) {
      throw new LimitsOptionError(
        `${name} must be a whole number of at least ${min}, got ${value}`,
      );
    }
  };
  wholeAtLeast('maxPerIp', o.maxPerIp, 1);
  wholeAtLeast('maxTotal', o.maxTotal, 1);
  wholeAtLeast('leaseTtlMs', o.leaseTtlMs, 300);
  // The default follows a shorter leaseTtlMs: past it the slots are gone anyway.
  const heartbeatTtlMs = o.heartbeatTtlMs ?? Math.min(5_000, o.leaseTtlMs);
  wholeAtLeast('heartbeatTtlMs', heartbeatTtlMs, 300);
  wholeAtLeast('retryAfterSeconds', o.retryAfterSeconds, 0);
  if (o.maxPerIp > o.maxTotal) {
    throw new LimitsOptionError(`maxPerIp (${o.maxPerIp}) cannot exceed maxTotal (${o.maxTotal})`);
  }
  checkOnRedisError(o.onRedisError);
  if (
    o.ipv6Subnet !== false &&
    (!Number.isInteger(o.ipv6Subnet) || o.ipv6Subnet < 8 || o.ipv6Subnet > 128)
  ) {
    throw new LimitsOptionError(`ipv6Subnet must be from 8 to 128, or false, got ${o.ipv6Subnet}`);
  }
  checkRedisSource(o.redis, (message) => new LimitsOptionError(message), { orFalse: true });
  if (typeof o.prefix !== 'string' || o.prefix.length === 0) {
    throw new LimitsOptionError('prefix must be a non-empty string');
  }
  if (o.trustProxy === true) {
    o.logger.warn(
      'limits: BANCADA_LIMITS_TRUST_ALL: trustProxy is true, so any client can pick its IP with ' +
        'X-Forwarded-For unless every request comes through a proxy that overwrites it.',
    );
  }
  return { ...o, heartbeatTtlMs };
}
