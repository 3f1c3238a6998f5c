import type { IncomingMessage, ServerResponse } from 'node:http';
import { rateLimit as expressRateLimit, type Options } from 'express-rate-limit';
import type { Redis, RedisOptions } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import { LimitsOptionError } from './errors.js';
import { openRedis } from './redis-connection.js';

/** Options of `rateLimit()`: express-rate-limit's, plus where to share the counts. */
export interface RateLimitOptions extends Partial<Options> {
  /**
   * Shares the counts between instances: a `redis://` URL, an ioredis client or options.
   * `false`: count per instance, in memory.
   * @default process.env.REDIS_URL, else per instance
   */
  redis?: string | Redis | RedisOptions | false;
  /**
   * Redis key prefix; give each limiter its own.
   * @default 'bancada:rl:'
   */
  prefix?: string;
}

/**
 * express-rate-limit with the defaults most apps want: 100 requests a minute per client,
 * the standard `RateLimit` headers (draft 8), a JSON 429, and the counts kept in Redis when
 * there is one, so five instances allow 100 in total, not 500. If Redis fails, requests go
 * through (express-rate-limit's `passOnStoreError`) rather than all getting errors.
 *
 * @example
 * app.post('/login', rateLimit({ windowMs: 15 * 60_000, limit: 10, prefix: 'rl:login:' }), login);
 */
export function rateLimit(options: RateLimitOptions = {}) {
  const { redis, prefix, ...rest } = options;
  const source = redis === false ? undefined : (redis ?? (process.env.REDIS_URL || undefined));
  if (typeof source === 'string' && !/^rediss?:\/\//.test(source)) {
    throw new LimitsOptionError(`redis URL must start with redis:// or rediss://, got "${source}"`);
  }
  let store: Options['store'] | undefined;
  if (source !== undefined) {
    const client = sharedConnection(source);
    store = new RedisStore({
      prefix: prefix ?? 'bancada:rl:',
      sendCommand: (command: string, ...args: string[]) =>
        client.call(command, ...args) as Promise<never>,
    });
  }
  return expressRateLimit({
    windowMs: 60_000,
    limit: 100,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    passOnStoreError: true,
    handler: (_req, res, _next, used) => {
      const retryAfter = res.getHeader('Retry-After');
      sendTooMany(res as unknown as ServerResponse, Number(retryAfter ?? used.windowMs / 1000));
    },
    ...(store ? { store } : {}),
    ...rest,
  });
}

// Every rateLimit() on the same URL shares one connection (an app often has several).
const connections = new Map<string, Redis>();

function sharedConnection(source: string | Redis | RedisOptions): Redis {
  if (typeof source !== 'string') return openRedis(source, { queueWhileConnecting: true }).client;
  let client = connections.get(source);
  if (client === undefined) {
    client = openRedis(source, { queueWhileConnecting: true }).client;
    connections.set(source, client);
  }
  return client;
}

/**
 * Closes the Redis connections that `rateLimit()` opened from URLs, so the process can exit
 * after a graceful shutdown. A client you passed in is yours to close.
 */
export async function closeRateLimits(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  await Promise.all(open.map((client) => client.quit().catch(() => client.disconnect())));
}

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
