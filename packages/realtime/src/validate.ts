import { resolveLogger as resolveShared } from '@bancada/internal';
import { RealtimeOptionError } from './errors.js';
import type { Logger } from './types.js';

/** The logger an option names: console by default, nothing for `false`; checked. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  return resolveShared(logger, (message) => new RealtimeOptionError(message));
}

/** Throws unless `redis` (when given) is a redis:// URL, an ioredis client or its options. */
export function checkRedisSource(redis: unknown, { orFalse }: { orFalse: boolean }): void {
  if (redis === undefined) return;
  if (typeof redis !== 'string' && (typeof redis !== 'object' || redis === null)) {
    throw new RealtimeOptionError(
      orFalse
        ? 'redis must be a redis:// URL, an ioredis client, ioredis options or false'
        : 'redis must be a redis:// URL, an ioredis client or options',
    );
  }
  if (typeof redis === 'string' && !/^rediss?:\/\//.test(redis)) {
    throw new RealtimeOptionError(
      `redis URL must start with redis:// or rediss://, got "${redis}"`,
    );
  }
}

/** Throws unless each named option is a whole number of at least 1. */
export function checkWholeNumbers<T extends object>(o: T, names: ReadonlyArray<keyof T & string>) {
  for (const name of names) {
    const value = o[name];
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new RealtimeOptionError(`${name} must be a whole number of at least 1, got ${value}`);
    }
  }
}
