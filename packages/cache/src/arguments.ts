import { CacheArgumentError } from './errors.js';

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_KEY',
      `cache keys must be non-empty strings, got ${typeof key === 'string' ? '""' : typeof key}`,
    );
  }
}

export function checkTtl(ttlSeconds: unknown): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || Number.isNaN(ttlSeconds) || ttlSeconds <= 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_TTL',
      `ttlSeconds must be a positive number of seconds or Infinity, got ${String(ttlSeconds)}` +
        (ttlSeconds === 0 ? ' (to remove a key, use delete())' : ''),
    );
  }
}
