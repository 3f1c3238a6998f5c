import { Redis, type RedisOptions } from 'ioredis';

/** How one of the package's own connections behaves where its users differ. */
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
 * A connection of the package's own: a caller's client is only a template, never used or
 * closed. No offline queue and no resend after a reconnect: a command either goes now or
 * fails now, and never runs late, out of order or twice (a late publish, lease renewal or
 * XACK would be worse than none). Reconnects forever, backing off with jitter, so that
 * instances do not reconnect in step.
 */
export function openOwnConnection(
  source: string | Redis | RedisOptions,
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
      Math.min(maxRetryDelayMs, 25 * 2 ** attempt) * (0.5 + Math.random() / 2),
    ...extra,
  };
  if (typeof source === 'string') return new Redis(source, options);
  if (typeof (source as Redis).duplicate === 'function') {
    return (source as Redis).duplicate(options);
  }
  return new Redis({ ...(source as RedisOptions), ...options });
}

/** Closes a connection we opened: politely if it answers quickly, at once otherwise. */
export async function closeOwnConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1000);
    timer.unref();
  });
  await Promise.race([connection.quit().catch(() => {}), giveUp]);
  clearTimeout(timer);
  if ((connection.status as string) !== 'end') connection.disconnect();
}
