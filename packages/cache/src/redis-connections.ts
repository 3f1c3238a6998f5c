import { isRedisClient, openOwnConnection } from '@bancada/internal';
import { type Redis, type RedisOptions, ReplyError } from 'ioredis';

/**
 * Opens one connection of the cache's own (see openOwnConnection: no offline queue, no
 * resend after a reconnect, a caller's client only a template). The cache's own settings:
 * a connect bounded by its timeout, so a black-holed address does not keep an attempt open;
 * reconnects backing off up to 2 s; and connecting at once even if a caller's options say
 * `lazyConnect`, since a lazy connection without an offline queue would refuse every command.
 * (Calls on a connection that stops answering are bounded by StallWatchdog.)
 */
export function openConnection(
  source: string | Redis | RedisOptions,
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

/** The key prefix configured on a caller's client, which our own connections fold into ours. */
export function clientKeyPrefix(source: string | Redis | RedisOptions): string {
  if (typeof source === 'string') return '';
  const options = isRedisClient(source) ? source.options : source;
  return options.keyPrefix ?? '';
}

/** True when Redis answered with an error (wrong type, out of memory): it is up and reachable. */
export function isReplyError(error: unknown): error is Error {
  return error instanceof (ReplyError as unknown as new () => Error);
}
