import {
  describeRedisError,
  hearEverySocketError,
  isRedisClient,
  openTopology,
  type RedisSource,
  topologyOf,
} from '@bancada/internal';
import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** A limiter's connection: one Redis node (alone or found through Sentinel), or a Cluster. */
export type LimitsRedis = Redis | Cluster;

/**
 * A limiter's Redis connection: a caller's client (or Cluster) is used as is (and never
 * closed); otherwise one is opened whose commands give up within 500 ms. The connection
 * limiter's fails at once while disconnected (a handshake must not wait for Redis to come
 * back); the rate limiter's may queue briefly while connecting, since its store loads a
 * script at start. A Cluster's node connections get the same settings.
 */
export function openRedis(
  source: Exclude<RedisSource, false>,
  { queueWhileConnecting = false } = {},
): { client: LimitsRedis; owned: boolean } {
  if (isRedisClient(source)) return { client: watchErrors(source), owned: false };
  const options: RedisOptions = {
    enableOfflineQueue: queueWhileConnecting,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  };
  const client = openTopology(topologyOf(source), options, {
    enableOfflineQueue: queueWhileConnecting,
    clusterRetryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
    // A command for a master that is failing over is tried again a few times, then fails:
    // a limiter counts locally for a moment rather than hold the request.
    maxRedirections: 4,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
  });
  // Errors surface through the limiter's degraded state; never as an unhandled 'error' event.
  return { client: hearEverySocketError(watchErrors(client)), owned: true };
}

/** True for a Redis Cluster client, whose pipelines and scripts must stay within a node. */
export function isCluster(client: LimitsRedis): client is Cluster {
  return (client as Cluster).isCluster === true;
}

const lastErrors = new WeakMap<LimitsRedis, string>();

/** Keeps a connection's last error until it is ready again, for `whyDown`. */
function watchErrors<C extends LimitsRedis>(client: C): C {
  if (!lastErrors.has(client)) {
    lastErrors.set(client, '');
    client.on('error', (error: Error) => lastErrors.set(client, describeRedisError(error)));
    // A Cluster's own 'error' says little ("Failed to refresh slots cache"); a node's says why.
    client.on('node error', (error: Error, node: string) =>
      lastErrors.set(client, `${node}: ${describeRedisError(error)}`),
    );
    client.on('ready', () => lastErrors.set(client, ''));
  }
  return client;
}

/**
 * Why a connection that is not ready is down, in the words of its last error (a wrong
 * password, an untrusted certificate), else its state: what a degraded limiter logs.
 */
export function whyDown(client: LimitsRedis): string {
  return lastErrors.get(client) || `connection ${client.status}`;
}
