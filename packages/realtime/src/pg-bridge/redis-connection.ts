import { closeOwnConnection, openOwnConnection } from '@bancada/internal';
import type { Redis, RedisOptions } from 'ioredis';

/**
 * The lease's own connection. Besides failing fast while Redis is away, its commands time
 * out when Redis hangs, so a lease command can never be answered late: a late renewal
 * would be worse than none.
 */
export function openLeaseConnection(
  source: string | Redis | RedisOptions,
  commandTimeoutMs: number,
): Redis {
  return openOwnConnection(source, {
    name: 'bancada-realtime-pg-bridge-lease',
    extra: { commandTimeout: commandTimeoutMs },
  });
}

export const closeLeaseConnection = closeOwnConnection;
