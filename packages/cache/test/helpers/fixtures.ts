import { cleanupPrefix, keyPrefix, redisUrl } from '@bancada/testkit';
import { afterEach } from 'vitest';
import type { Cache, CacheOptions } from '../../src/index.js';
import { createCache } from '../../src/index.js';

/**
 * Makes caches that stand for app instances: all on the same Redis and key prefix (unique
 * to this test), closed and cleaned up after each test.
 */
export function instances(name: string) {
  const opened: Cache[] = [];
  const prefixes = new Set<string>();
  let url: string | undefined;

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((cache) => cache.close()));
    if (url) for (const prefix of prefixes) await cleanupPrefix(url, prefix);
    prefixes.clear();
  });

  return {
    /** A fresh prefix: caches created with the same prefix see each other. */
    prefix(): string {
      const prefix = keyPrefix(name);
      prefixes.add(prefix);
      return prefix;
    },
    async redis(options: CacheOptions = {}): Promise<Cache> {
      url ??= await redisUrl();
      const cache = createCache({ redis: url, logger: false, ...options });
      opened.push(cache);
      return cache;
    },
    memory(options: CacheOptions = {}): Cache {
      const cache = createCache({ redis: false, logger: false, ...options });
      opened.push(cache);
      return cache;
    },
    track(cache: Cache): Cache {
      opened.push(cache);
      return cache;
    },
  };
}

export { recordingLogger, waitFor } from '@bancada/testkit';
