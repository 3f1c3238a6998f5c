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
  const connection =
    typeof source === 'string'
      ? new Redis(source, options)
      : isRedisClient(source)
        ? source.duplicate(options)
        : new Redis({ ...source, ...options });
  return hearEverySocketError(connection);
}

/**
 * ioredis hears only the first error of each socket (`once`). A TLS socket whose handshake
 * failed (a certificate the client does not trust) can emit a second one (the server's alert),
 * which nobody would hear: an uncaught exception, the process down. After a socket's first
 * error, this keeps a listener on it. Returns `connection`.
 */
export function hearEverySocketError(connection: Redis): Redis {
  const heard = new WeakSet<object>();
  connection.on('error', () => {
    const stream = connection.stream;
    if (stream === undefined || heard.has(stream)) return;
    heard.add(stream);
    stream.on('error', () => {}); // the connection reported the first; it reconnects anyway
  });
  return connection;
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
