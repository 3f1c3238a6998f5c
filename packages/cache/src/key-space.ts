import type { Redis } from 'ioredis';
import { escapeGlob } from './glob.js';

const SCAN_COUNT = 1000;
const UNLINK_BATCH = 500;

// `fullPrefix`: what every key of the cache starts with in Redis (a caller's client's own
// keyPrefix, then the prefix option).

/**
 * Deletes every key of the cache matching `glob` with SCAN and batched UNLINK (never KEYS);
 * resolves how many were deleted.
 */
export async function unlinkMatching(
  redis: Redis,
  fullPrefix: string,
  glob: string,
): Promise<number> {
  const match = escapeGlob(fullPrefix) + glob;
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    cursor = next;
    for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
      removed += await redis.unlink(...keys.slice(i, i + UNLINK_BATCH));
    }
  } while (cursor !== '0');
  return removed;
}

/** Deletes `keys` (given without the prefix) in batches of UNLINK. */
export async function unlinkKeys(redis: Redis, fullPrefix: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
    await redis.unlink(...keys.slice(i, i + UNLINK_BATCH).map((key) => fullPrefix + key));
  }
}
