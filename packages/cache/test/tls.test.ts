import { type PrivateTlsRedis, recordingLogger, startTlsRedis, waitFor } from '@bancada/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cache, createCache } from '../src/index.js';

// Redis as hosted services give it: TLS (here with a certificate of a throw-away authority)
// and a user with a password, reached with a rediss:// URL and the authority as ioredis's
// `tls: { ca }`. The cache takes both through an ioredis client, its template: it opens its
// own connections from it and never uses or closes the client.

let server: PrivateTlsRedis;
beforeAll(async () => {
  server = await startTlsRedis();
});
afterAll(() => server?.stop());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function cacheOn(url: string, tls: RedisOptions['tls'], logger = recordingLogger()): Cache {
  const template = new Redis(url, { tls, lazyConnect: true });
  const cache = createCache({ redis: template, prefix: 'tls:', logger, timeoutMs: 1000 });
  cleanups.push(() => template.disconnect());
  cleanups.push(() => cache.close());
  return cache;
}

describe('the cache on Redis with TLS and a password', () => {
  it('shares values and stays coherent across instances', async () => {
    const logger = recordingLogger();
    const one = cacheOn(server.url, { ca: server.ca }, logger);
    const two = cacheOn(server.url, { ca: server.ca }, logger);
    await one.set('menu', ['coxinha']);
    expect(await two.get('menu')).toEqual(['coxinha']); // and now in two's local tier
    await one.set('menu', ['coxinha', 'pastel']);
    await waitFor(
      'the invalidation to reach the other instance',
      async () => ((await two.get<string[]>('menu')) ?? []).length === 2,
    );
    expect(two.getStats()).toMatchObject({ mode: 'redis', degraded: false });
    expect(logger.lines).toContain('info cache: redis (distributed)');
    expect(logger.lines.filter((line) => !line.startsWith('info'))).toEqual([]);
  });

  it('with a wrong password: degraded, serving its local tier, and the log says why', async () => {
    const logger = recordingLogger();
    const cache = cacheOn(server.url.replace(server.password, 'not-it'), { ca: server.ca }, logger);
    await cache.set('k', 'local'); // answered within the cache's bound, never thrown
    expect(await cache.get('k')).toBe('local');
    expect(cache.getStats().degraded).toBe(true);
    await waitFor('the cause in the log', () => logger.lines.some((l) => /WRONGPASS/.test(l)));
  });

  it('with a certificate it does not trust: degraded, and the log says why', async () => {
    const logger = recordingLogger();
    // No `ca`: the machine's own authorities do not know the server's.
    const cache = cacheOn(server.url, {}, logger);
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.getStats().degraded).toBe(true);
    await waitFor('the cause in the log', () =>
      logger.lines.some((l) => /self[- ]signed certificate/.test(l)),
    );
  });

  it('does not crash the process when it meets a certificate it does not trust again and again', async () => {
    // A failed TLS socket can report a second error after ioredis stopped listening to it:
    // unheard, an uncaught exception (before the fix, 2 or 3 of these 10 caches ended the
    // process; vitest reports it as an unhandled error).
    for (let round = 0; round < 10; round++) {
      const logger = recordingLogger();
      const cache = cacheOn(server.url, {}, logger);
      await cache.get('k');
      await waitFor('the cache to see the connection close', () =>
        logger.lines.some((l) => l.includes('redis unavailable')),
      );
      await cache.close();
    }
  });
});
