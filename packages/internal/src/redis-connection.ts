import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { atMost } from './bounded.js';
import {
  isRedisClient,
  openTopology,
  type RedisSource,
  RedisSourceError,
  topologyOf,
} from './redis-topology.js';

/** How one of a package's own connections behaves where the packages differ. */
export interface OwnConnectionOptions {
  /** CLIENT SETNAME, to tell the connections apart in CLIENT LIST. */
  name: string;
  /** The longest wait between reconnect attempts. @default 500 */
  maxRetryDelayMs?: number;
  /** @default 2000 */
  connectTimeoutMs?: number;
  /** Anything else, for one user (autoResubscribe, commandTimeout...). */
  extra?: RedisOptions;
}

/**
 * A connection of a package's own: a caller's client is only a template, never used or
 * closed. No offline queue and no resend after a reconnect: a command either goes now or
 * fails now, and never runs late, out of order or twice (a late publish, lease renewal or
 * write would be worse than none). Reconnects for ever, backing off with jitter, so that
 * instances do not reconnect in step.
 */
export function openOwnConnection(
  source: RedisSource,
  { name, maxRetryDelayMs = 500, connectTimeoutMs = 2000, extra }: OwnConnectionOptions,
): Redis {
  const options = ownOptions(name, maxRetryDelayMs, connectTimeoutMs, extra);
  if (isRedisClient(source) && !(source as Cluster).isCluster) {
    return hearEverySocketError((source as Redis).duplicate(options));
  }
  const topology = topologyOf(source);
  if (topology.kind === 'cluster') {
    throw new RedisSourceError(`${name} takes one Redis node or a Sentinel set-up, not a Cluster`);
  }
  return hearEverySocketError(openTopology(topology, options) as Redis);
}

/**
 * `openOwnConnection` for a package that runs on a Redis Cluster too: a `Cluster` there (its
 * node connections with the same settings, and no offline queue of its own either), a
 * `Redis` elsewhere. `cluster` adds Cluster settings of the package's (shardedSubscribers...).
 */
export function openOwnClient(
  source: RedisSource,
  { name, maxRetryDelayMs = 500, connectTimeoutMs = 2000, extra }: OwnConnectionOptions,
  cluster: ClusterOptions = {},
): Redis | Cluster {
  const options = ownOptions(name, maxRetryDelayMs, connectTimeoutMs, extra);
  const own: ClusterOptions = {
    // As for one node: a caller's template may be lazy, or queue offline; ours must not.
    lazyConnect: false,
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt) =>
      Math.min(maxRetryDelayMs, 25 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2),
    ...cluster,
  };
  if (isRedisClient(source)) {
    if (!(source as Cluster).isCluster)
      return hearEverySocketError((source as Redis).duplicate(options));
    const template = source as Cluster;
    return template.duplicate(undefined, {
      ...own,
      redisOptions: { ...template.options.redisOptions, ...options },
    });
  }
  return openTopology(topologyOf(source), options, own);
}

function ownOptions(
  name: string,
  maxRetryDelayMs: number,
  connectTimeoutMs: number,
  extra: RedisOptions | undefined,
): RedisOptions {
  return {
    connectionName: name,
    // A caller's client may be lazy; ours must connect now: with no offline queue, a lazy
    // connection refuses every command, and one that waits for 'ready' never connects.
    lazyConnect: false,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    keyPrefix: '',
    retryStrategy: (attempt) =>
      Math.min(maxRetryDelayMs, 25 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2),
    ...extra,
  };
}

/**
 * ioredis hears only the first error of each socket (`once`). A TLS socket whose handshake
 * failed (a certificate the client does not trust) can emit a second one (the server's alert),
 * which nobody would hear: an uncaught exception, the process down. After a socket's first
 * error, this keeps a listener on it. Returns `connection`.
 */
export function hearEverySocketError<C extends Redis | Cluster>(connection: C): C {
  const heard = new WeakSet<object>();
  connection.on('error', () => {
    const stream = (connection as Redis).stream;
    if (stream === undefined || heard.has(stream)) return;
    heard.add(stream);
    stream.on('error', () => {}); // the connection reported the first; it reconnects anyway
  });
  return connection;
}

/** Closes a connection we opened: politely if it answers within a second, at once otherwise. */
export async function closeOwnConnection(connection: Redis | Cluster): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  // QUIT waits for Redis's answer: a Redis that stopped answering must not hold up a shutdown.
  await atMost(connection.quit(), 1000);
  if ((connection.status as string) !== 'end') connection.disconnect();
}

/**
 * ioredis says "Reached the max retries per request limit (which is 0)" for a command made
 * while the connection was down: true to the letter, and read as a misconfiguration. Our
 * connections fail such commands on purpose; say that instead.
 */
export function describeRedisError(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if (/max retries per request/i.test(message) || /Stream isn't writeable/i.test(message)) {
    return 'not connected to Redis';
  }
  return message;
}

export { isRedisClient, type RedisSource };
