import {
  checkRedisSource as checkRedisShared,
  checkWholeNumbers as checkWholeShared,
  resolveLogger as resolveShared,
} from '@bancada/internal';
import { RealtimeOptionError } from './errors.js';
import type { Logger } from './types.js';

const invalid = (message: string) => new RealtimeOptionError(message);

/** The logger an option names: console by default, nothing for `false`; checked. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  return resolveShared(logger, invalid);
}

/** Throws unless `redis` (when given) is a redis:// URL, an ioredis client or its options. */
export function checkRedisSource(redis: unknown, { orFalse }: { orFalse: boolean }): void {
  checkRedisShared(redis, invalid, { orFalse });
}

/** Throws unless each named option is a whole number of at least 1. */
export function checkWholeNumbers<T extends object>(o: T, names: ReadonlyArray<keyof T & string>) {
  checkWholeShared(o, names, invalid);
}
