import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** A key prefix no other test file or run shares, so files can run in parallel on one Redis. */
export function keyPrefix(name: string): string {
  return `test:${name}:${process.pid}:${randomBytes(3).toString('hex')}:`;
}

/** Removes every key under `prefix` with SCAN and batched UNLINK (never KEYS or FLUSHDB). */
export async function cleanupPrefix(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      for (let i = 0; i < keys.length; i += 500) {
        removed += await client.unlink(...keys.slice(i, i + 500));
      }
    } while (cursor !== '0');
    return removed;
  } finally {
    client.disconnect();
  }
}
