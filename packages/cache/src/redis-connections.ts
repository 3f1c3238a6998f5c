import {
  isRedisClient,
  openOwnClient,
  openOwnConnection,
  type RedisSource,
  topologyOf,
} from '@bancada/internal';
import { type Cluster, type Redis, type RedisOptions, ReplyError } from 'ioredis';

/**
 * Opens one connection of the cache's own (see openOwnConnection: no offline queue, no
 * resend after a reconnect, a caller's client only a template). The cache's own settings:
 * a connect bounded by its timeout, so a black-holed address does not keep an attempt open;
 * reconnects backing off up to 2 s; and connecting at once even if a caller's options say
 * `lazyConnect`, since a lazy connection without an offline queue would refuse every command.
 * (Calls on a connection that stops answering are bounded by StallWatchdog.)
 */
export function openConnection(
  source: RedisSource,
  timeoutMs: number,
  connectionName: string,
  extra: RedisOptions = {},
): Redis {
  return openOwnConnection(source, {
    name: connectionName,
    maxRetryDelayMs: 2000,
    connectTimeoutMs: Math.max(1000, timeoutMs * 4),
    extra: { lazyConnect: false, ...extra },
  });
}

/**
 * The cache's own client of a Redis Cluster, with the same settings as openConnection on
 * each node. A caller's `keyPrefix` is folded into ours (clientKeyPrefix), so the client
 * has none; slots are refreshed every few seconds, so a topology change is noticed even
 * when no command of ours meets it.
 */
export function openClusterConnection(source: RedisSource, timeoutMs: number): Cluster {
  return openOwnClient(
    source,
    {
      name: 'bancada-cache',
      maxRetryDelayMs: 2000,
      connectTimeoutMs: Math.max(1000, timeoutMs * 4),
      extra: { lazyConnect: false },
    },
    {
      keyPrefix: '',
      // A caller's lazy Cluster is a template too: ours connects now (see openConnection).
      lazyConnect: false,
      // As on one node: a command goes now or fails now, even when a caller's Cluster queues,
      // and is not retried later either: a write retried after the cache gave up on it could
      // land after a newer one. (Redirections to a node that answers still happen at once.)
      enableOfflineQueue: false,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      slotsRefreshInterval: 2000,
      slotsRefreshTimeout: Math.max(1000, timeoutMs * 4),
    },
  ) as Cluster;
}

/** The key prefix configured on a caller's client, which our own connections fold into ours. */
export function clientKeyPrefix(source: RedisSource): string {
  if (typeof source === 'string') return '';
  if (isRedisClient(source)) {
    const options = source.options as RedisOptions & { redisOptions?: RedisOptions };
    return options.keyPrefix ?? options.redisOptions?.keyPrefix ?? '';
  }
  const topology = topologyOf(source);
  if (topology.kind === 'cluster') {
    return topology.options.keyPrefix ?? topology.options.redisOptions?.keyPrefix ?? '';
  }
  return topology.options.keyPrefix ?? '';
}

/** True when Redis answered with an error (wrong type, out of memory): it is up and reachable. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof (ReplyError as unknown as new () => Error);
}
