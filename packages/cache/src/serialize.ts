import { CacheArgumentError } from './errors.js';

/**
 * Turns a value into the JSON text stored in Redis. Throws for what JSON cannot carry
 * (undefined, functions, symbols, BigInt, cycles) so that no poisoned entry is ever stored.
 */
export function encode(key: string, value: unknown): string {
  if (value === undefined) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_UNSERIALIZABLE',
      `cannot cache undefined under "${key}": undefined means absent; use delete() instead`,
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_UNSERIALIZABLE',
      `cannot cache the value under "${key}": it is not JSON-serializable (${(cause as Error).message})`,
      { cause },
    );
  }
  if (text === undefined) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_UNSERIALIZABLE',
      `cannot cache a ${typeof value} under "${key}": only JSON-serializable values can be cached`,
    );
  }
  return text;
}

/** Parses stored JSON text into the shared, deeply frozen object that local hits return. */
export function decode(text: string): unknown {
  return deepFreeze(JSON.parse(text));
}

/**
 * Freezing once when an entry is filled lets every hit return the same object with no copy,
 * while a caller that mutates it by mistake gets a TypeError instead of corrupting the cache.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
