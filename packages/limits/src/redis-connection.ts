import { hearEverySocketError } from '@bancada/internal';
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
    return { client: source as Redis, owned: false };
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
  client.on('error', () => {});
  return { client: hearEverySocketError(client), owned: true };
}
