import { Redis, type RedisOptions } from 'ioredis';
import { atMost } from './bounded.js';

/** Where a package finds Redis: a URL, a caller's ioredis client, or ioredis options. */
export type RedisSource = string | Redis | RedisOptions;

/** True for an ioredis client (duck-typed, so that a caller's copy of ioredis works too). */
export function isRedisClient(value: unknown): value is Redis {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).duplicate === 'function' &&
    typeof (value as Redis).sendCommand === 'function'
  );
}

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
  const options: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    keyPrefix: '',
    retryStrategy: (attempt) =>
      Math.min(maxRetryDelayMs, 25 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2),
    ...extra,
  };
  if (typeof source === 'string') return new Redis(source, options);
  if (isRedisClient(source)) return source.duplicate(options);
  return new Redis({ ...source, ...options });
}

/** Closes a connection we opened: politely if it answers within a second, at once otherwise. */
export async function closeOwnConnection(connection: Redis): Promise<void> {
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
