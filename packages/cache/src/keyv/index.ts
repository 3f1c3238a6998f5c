export { CacheArgumentError, CacheClosedError, type CacheErrorCode } from '../errors.js';
export { createKeyvStore, KeyvCacheStore, type KeyvStoreOptions } from './keyv-store.js';
