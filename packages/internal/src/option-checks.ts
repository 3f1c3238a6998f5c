import { type RedisSource, RedisSourceError, topologyOf } from './redis-topology.js';

/**
 * Throws `invalid`'s error unless `redis` (when given) is a source a package can open (see
 * RedisSource: a URL of the kit's forms, an ioredis client or its options, `{ cluster }`);
 * with `orFalse`, the message also names `false` (Redis turned off).
 */
export function checkRedisSource(
  redis: unknown,
  invalid: (message: string) => Error,
  { orFalse = false }: { orFalse?: boolean } = {},
): void {
  if (redis === undefined) return;
  if (typeof redis !== 'string' && (typeof redis !== 'object' || redis === null)) {
    throw invalid(
      orFalse
        ? 'redis must be a redis:// URL, an ioredis client, ioredis options or false'
        : 'redis must be a redis:// URL, an ioredis client or options',
    );
  }
  try {
    topologyOf(redis as RedisSource);
  } catch (error) {
    if (error instanceof RedisSourceError) throw invalid(error.message);
    throw error;
  }
}

/** Throws `invalid`'s error unless each named option is a whole number of at least 1. */
export function checkWholeNumbers<T extends object>(
  o: T,
  names: ReadonlyArray<keyof T & string>,
  invalid: (message: string) => Error,
): void {
  for (const name of names) {
    const value = o[name];
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw invalid(`${name} must be a whole number of at least 1, got ${value}`);
    }
  }
}
