import { Redis, type RedisOptions, ReplyError } from 'ioredis';

/**
 * Options the cache needs on every connection it opens, whatever the caller configured:
 * - no offline queue: a command made while disconnected fails at once instead of running
 *   seconds later, after newer writes, and instead of piling up in memory;
 * - no resend of unanswered commands after a reconnect, for the same reason;
 * - a bounded connect, so a black-holed address does not keep a connection attempt open.
 * (Calls on a connection that stops answering are bounded by StallWatchdog.)
 */
function connectionOptions(timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(1000, timeoutMs * 4),
    maxRetriesPerRequest: 0,
    keyPrefix: '',
    lazyConnect: false,
    // Reconnect forever, backing off to 2 s, with jitter so instances do not reconnect in step.
    retryStrategy: (attempt) =>
      Math.min(2000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2),
  };
}

/** True for an ioredis client (duck-typed, so a caller's ioredis 5 or 6 both work). */
export function isRedisClient(value: unknown): value is Redis {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).duplicate === 'function' &&
    typeof (value as Redis).sendCommand === 'function'
  );
}

/** The key prefix configured on a caller's client, which our own connections fold into ours. */
export function clientKeyPrefix(source: string | Redis | RedisOptions): string {
  if (typeof source === 'string') return '';
  const options = isRedisClient(source) ? source.options : source;
  return options.keyPrefix ?? '';
}

/**
 * Opens one connection of the cache's own. A caller's client is only a template: the cache
 * never sends commands on it, never changes its state and never closes it.
 */
export function openConnection(
  source: string | Redis | RedisOptions,
  timeoutMs: number,
  name: string,
  extra: RedisOptions = {},
): Redis {
  const options = { ...connectionOptions(timeoutMs), connectionName: name, ...extra };
  if (typeof source === 'string') return new Redis(source, options);
  if (isRedisClient(source)) return source.duplicate(options);
  return new Redis({ ...source, ...options });
}

/** Closes a connection we opened: politely if it answers quickly, at once otherwise. */
export async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  // quit() waits for Redis's answer; a Redis that stopped answering must not hold up a shutdown.
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
    timer.unref();
  });
  await Promise.race([connection.quit().catch(() => {}), giveUp]);
  clearTimeout(timer);
  if ((connection.status as string) !== 'end') connection.disconnect();
}

/** True when Redis answered with an error (wrong type, out of memory): it is up and reachable. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof (ReplyError as unknown as new () => Error);
}
