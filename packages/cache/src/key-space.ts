import type { Cluster, Redis } from 'ioredis';
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

/**
 * unlinkMatching on a Redis Cluster: SCAN runs on one node, so it walks every master, and
 * each key goes in its own UNLINK (one command with keys of several slots is refused), in
 * one pipeline per batch on the node that holds them.
 */
export async function unlinkMatchingOnEveryMaster(
  cluster: Cluster,
  fullPrefix: string,
  glob: string,
): Promise<number> {
  const match = escapeGlob(fullPrefix) + glob;
  const counts = await Promise.all(
    cluster.nodes('master').map(async (node) => {
      let cursor = '0';
      let removed = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
          const pipeline = node.pipeline();
          for (const key of keys.slice(i, i + UNLINK_BATCH)) pipeline.unlink(key);
          for (const [error, count] of (await pipeline.exec()) ?? []) {
            if (error) throw error;
            removed += count as number;
          }
        }
      } while (cursor !== '0');
      return removed;
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * unlinkKeys on a Redis Cluster, key by key (each to the node of its slot). Returns the keys
 * that could not be deleted now, instead of failing them all for one unreachable node.
 */
export async function unlinkKeysOneByOne(
  cluster: Cluster,
  fullPrefix: string,
  keys: string[],
): Promise<string[]> {
  const failed: string[] = [];
  for (let i = 0; i < keys.length; i += UNLINK_BATCH) {
    const batch = keys.slice(i, i + UNLINK_BATCH);
    const results = await Promise.allSettled(batch.map((key) => cluster.unlink(fullPrefix + key)));
    results.forEach((result, j) => {
      if (result.status === 'rejected') failed.push(batch[j]!);
    });
  }
  return failed;
}
