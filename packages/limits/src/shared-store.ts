import { atMost, checkRedisSource, type RedisSource as InternalSource } from '@bancada/internal';
import { RedisStore } from 'rate-limit-redis';
import { clusterCommands } from './cluster-commands.js';
import { LimitsOptionError } from './errors.js';
import { FallbackStore } from './fallback-store.js';
import type { OnRedisError } from './options.js';
import { isCluster, type LimitsRedis, openRedis, whyDown } from './redis-connection.js';
import type { Logger } from './types.js';

/**
 * Where a limiter's counts are shared: a URL (`redis://`, `rediss://`, `redis-cluster://`,
 * `redis-sentinel://`), an ioredis client or Cluster, ioredis options (with `sentinels` and
 * `name` for Sentinel), `{ cluster: seeds }`; `false` for none.
 */
export type RedisSource = InternalSource | false;

/**
 * The Redis a limiter counts in: the one given, else `REDIS_URL`; undefined for counts kept in
 * this instance's memory. A source that can never work (a URL that is not a Redis one) is refused.
 */
export function resolveRedisSource(
  redis: RedisSource | undefined,
  env: NodeJS.ProcessEnv = process.env,
): InternalSource | undefined {
  const source = redis === false ? undefined : (redis ?? (env.REDIS_URL || undefined));
  checkRedisSource(source, (message) => new LimitsOptionError(message), { orFalse: true });
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
  source: InternalSource,
  prefix: string,
  name: string,
  onRedisError: OnRedisError,
  log: Logger,
): FallbackStore {
  const client = sharedConnection(source);
  const redisStore = new RedisStore(
    isCluster(client)
      ? { prefix, sendCommandCluster: clusterCommands(client, CLUSTER_COMMAND_MS) }
      : {
          prefix,
          sendCommand: (command: string, ...args: string[]) =>
            client.call(command, ...args) as Promise<never>,
        },
  );
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
    // A Cluster stays 'ready' while one master fails over: try it again once a second.
    isCluster(client) ? CLUSTER_PROBE_MS : undefined,
  );
}

/** While failing on a Cluster, how often a call tries Redis again. */
const CLUSTER_PROBE_MS = 1000;
/**
 * The longest a command waits on a Cluster, offline queue included (the rate limiter's queues
 * while the Cluster connects, and a Cluster that is never reached would hold it for ever).
 */
const CLUSTER_COMMAND_MS = 1000;

// Every limiter on the same URL shares one connection (an app often has several).
const connections = new Map<string, LimitsRedis>();
// Connections opened from options (ioredis options, `{ cluster }`): one per limiter.
const unshared = new Set<LimitsRedis>();

function sharedConnection(source: InternalSource): LimitsRedis {
  if (typeof source !== 'string') {
    const { client, owned } = openRedis(source, { queueWhileConnecting: true });
    if (owned) unshared.add(client);
    return client;
  }
  let client = connections.get(source);
  if (client === undefined) {
    client = openRedis(source, { queueWhileConnecting: true }).client;
    connections.set(source, client);
  }
  return client;
}

/**
 * Closes the Redis connections that `rateLimit()` and `attemptLimit()` opened (from URLs or
 * options), so the process can exit after a graceful shutdown. A client you passed in is yours
 * to close.
 */
export async function closeRateLimits(): Promise<void> {
  const open = [...connections.values(), ...unshared];
  connections.clear();
  unshared.clear();
  await Promise.all(
    open.map((client) => atMost(client.quit(), 1000).finally(() => client.disconnect())),
  );
}
