/** Stable codes for every error the cache raises, so callers can branch without parsing messages. */
export type CacheErrorCode =
  | 'BANCADA_CACHE_INVALID_KEY'
  | 'BANCADA_CACHE_INVALID_TTL'
  | 'BANCADA_CACHE_INVALID_PATTERN'
  | 'BANCADA_CACHE_UNSERIALIZABLE'
  | 'BANCADA_CACHE_INVALID_OPTION'
  | 'BANCADA_CACHE_CLOSED';

/**
 * A call or an option that can never work: a bad key, TTL, pattern, value or option.
 * It is a `TypeError`, so existing `instanceof TypeError` checks keep working.
 */
export class CacheArgumentError extends TypeError {
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheArgumentError';
    this.code = code;
  }
}

/** The error for an option that cannot work. */
export function invalidOption(message: string): CacheArgumentError {
  return new CacheArgumentError('BANCADA_CACHE_INVALID_OPTION', message);
}

/** The cache was used after `close()`. */
export class CacheClosedError extends Error {
  readonly code = 'BANCADA_CACHE_CLOSED' as const;

  constructor() {
    super('The cache is closed: create a new one with createCache().');
    this.name = 'CacheClosedError';
  }
}
