import { checkRedisSource as checkShared, resolveLogger as resolveShared } from '@bancada/internal';
import { RealtimeOptionError } from './errors.js';
import type { Logger } from './types.js';

/** The logger an option names: console by default, nothing for `false`; checked. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  return resolveShared(logger, (message) => new RealtimeOptionError(message));
}

/** Throws unless `redis` (when given) is a redis:// URL, an ioredis client or its options. */
export function checkRedisSource(redis: unknown, { orFalse }: { orFalse: boolean }): void {
  checkShared(redis, { orFalse }, (message) => new RealtimeOptionError(message));
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
