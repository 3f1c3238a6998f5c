import { Redis, type RedisOptions } from 'ioredis';

/**
 * The lease's own connection (a caller's client is only a template, never used or closed).
 * Commands fail fast while Redis is away (no offline queue) and time out when it hangs, so
 * a lease command can never be sent late: a late renewal would be worse than none.
 */
export function openLeaseConnection(
  source: string | Redis | RedisOptions,
  commandTimeoutMs: number,
): Redis {
  const options: RedisOptions = {
    connectionName: 'bancada-realtime-pg-bridge-lease',
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    keyPrefix: '',
    retryStrategy: (attempt) => Math.min(500, 25 * 2 ** attempt) * (0.5 + Math.random() / 2),
  };
  if (typeof source === 'string') return new Redis(source, options);
  if (typeof (source as Redis).duplicate === 'function') {
    return (source as Redis).duplicate(options);
  }
  return new Redis({ ...(source as RedisOptions), ...options });
}

/** Closes a connection we opened: politely if it answers quickly, at once otherwise. */
export async function closeLeaseConnection(connection: Redis): Promise<void> {
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
