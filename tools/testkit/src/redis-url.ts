import { Redis } from 'ioredis';

/**
 * The Redis the tests share: REDIS_URL, else redis://127.0.0.1:6379, checked to answer
 * PING. A missing Redis fails the test with a message saying how to get one; never a skip.
 */
export async function redisUrl(): Promise<string> {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  await assertRedisAnswers(url);
  return url;
}

/** Rejects with a clear message unless the Redis at `url` answers PING within 2 s. */
export async function assertRedisAnswers(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${url} (${(error as Error).message}). ` +
        'Start one (redis-server --port 6379) or set REDIS_URL.',
    );
  } finally {
    client.disconnect();
  }
}
