import { defineConfig } from 'tsup';
import base from '../../tsup.config.base.js';

/** The cache, and its Keyv storage adapter as a second entry point (`@bancada/cache/keyv`). */
export default defineConfig({
  ...base,
  entry: {
    index: 'src/index.ts',
    keyv: 'src/keyv/index.ts',
  },
  // Shared chunks in CommonJS too: one copy of the cache's code and error classes, so that an
  // error of the Keyv store is an instance of `require('@bancada/cache').CacheArgumentError`.
  splitting: true,
});
