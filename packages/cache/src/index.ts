export { createCache } from './create-cache.js';
export { CacheArgumentError, CacheClosedError, type CacheErrorCode } from './errors.js';
export { type CacheResponseOptions, cacheResponse } from './middleware.js';
export type { CacheOptions } from './options.js';
export type { Cache, CacheMode, CacheStats, Logger } from './types.js';
