import type { Redis, RedisOptions } from 'ioredis';
import { RedisStore } from 'rate-limit-redis';
import { LimitsOptionError } from './errors.js';
import { FallbackStore } from './fallback-store.js';
import type { OnRedisError } from './options.js';
import { openRedis, whyDown } from './redis-connection.js';
import type { Logger } from './types.js';

/** Where a limiter's counts are shared: a URL, an ioredis client or options, `false` for none. */
export type RedisSource = string | Redis | RedisOptions | false;

/**
 * The Redis a limiter counts in: the one given, else `REDIS_URL`; undefined for counts kept in
 * this instance's memory. A URL that is not a Redis one is refused.
 */
export function resolveRedisSource(
  redis: RedisSource | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Exclude<RedisSource, false> | undefined {
  const source = redis === false ? undefined : (redis ?? (env.REDIS_URL || undefined));
  if (typeof source === 'string' && !/^rediss?:\/\//.test(source)) {
    throw new LimitsOptionError(`redis URL must start with redis:// or rediss://, got "${source}"`);
  }
  return source;
}

const FALLBACK: Record<OnRedisError, string> = {
  local: 'counts per instance',
  open: 'lets every request through',
  closed: 'answers 503',
};

/**
 * Counts in Redis under `prefix`, and does what `onRedisError` says while Redis fails,
 * logging each change once, under the limiter's `name`.
 */
export function sharedStore(
  source: Exclude<RedisSource, false>,
  prefix: string,
  name: string,
  onRedisError: OnRedisError,
  log: Logger,
): FallbackStore {
  const client = sharedConnection(source);
  const redisStore = new RedisStore({
    prefix,
    sendCommand: (command: string, ...args: string[]) =>
      client.call(command, ...args) as Promise<never>,
  });
  return new FallbackStore(
    redisStore,
    onRedisError,
    (degraded, why) => {
      if (!degraded) log.info(`limits: redis is back; rate limit "${name}" shared again`);
      else
        log.warn(
          // A command that failed for want of a connection: say why the connection is down.
          `limits: redis unavailable (${client.status === 'ready' ? why : whyDown(client)}); rate limit "${name}" ${FALLBACK[onRedisError]} until it is back (degraded)`,
        );
    },
    () => client.status === 'ready',
  );
}

// Every limiter on the same URL shares one connection (an app often has several).
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
 * Closes the Redis connections that `rateLimit()` and `attemptLimit()` opened from URLs, so
 * the process can exit after a graceful shutdown. A client you passed in is yours to close.
 */
export async function closeRateLimits(): Promise<void> {
  const open = [...connections.values()];
  connections.clear();
  await Promise.all(open.map((client) => client.quit().catch(() => client.disconnect())));
}
