import { describeRedisError, hearEverySocketError } from '@bancada/internal';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A limiter's Redis connection: a caller's client is used as is (and never closed);
 * otherwise one is opened whose commands give up within 500 ms. The connection limiter's
 * fails at once while disconnected (a handshake must not wait for Redis to come back); the
 * rate limiter's may queue briefly while connecting, since its store loads a script at start.
 */
export function openRedis(
  source: string | Redis | RedisOptions,
  { queueWhileConnecting = false } = {},
): { client: Redis; owned: boolean } {
  if (typeof source === 'object' && typeof (source as Redis).duplicate === 'function') {
    return { client: watchErrors(source as Redis), owned: false };
  }
  const options: RedisOptions = {
    enableOfflineQueue: queueWhileConnecting,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  };
  const client =
    typeof source === 'string'
      ? new Redis(source, options)
      : new Redis({ ...(source as RedisOptions), ...options });
  // Errors surface through the limiter's degraded state; never as an unhandled 'error' event.
  return { client: hearEverySocketError(watchErrors(client)), owned: true };
}

const lastErrors = new WeakMap<Redis, string>();

/** Keeps a connection's last error until it is ready again, for `whyDown`. */
function watchErrors(client: Redis): Redis {
  if (!lastErrors.has(client)) {
    lastErrors.set(client, '');
    client.on('error', (error: Error) => lastErrors.set(client, describeRedisError(error)));
    client.on('ready', () => lastErrors.set(client, ''));
  }
  return client;
}

/**
 * Why a connection that is not ready is down, in the words of its last error (a wrong
 * password, an untrusted certificate), else its state: what a degraded limiter logs.
 */
export function whyDown(client: Redis): string {
  return lastErrors.get(client) || `connection ${client.status}`;
}
