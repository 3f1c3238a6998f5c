import type { PrivateRedis } from '@bancada/testkit';
import { startRedis } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instances } from './helpers/fixtures.js';

const caches = instances('delete-pattern');
let server: PrivateRedis;
let raw: Redis;

// A private server, so INFO commandstats counts our commands and nobody else's.
beforeAll(async () => {
  server = await startRedis();
  raw = new Redis(server.url);
});
afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

async function commandCalls(command: string): Promise<number> {
  const info = await raw.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}

describe('deletePattern at scale', () => {
  it('removes 10,000 matching keys in batches, never uses KEYS, and leaves other prefixes alone', async () => {
    const cache = await caches.redis({ redis: server.url, prefix: 'pdv:cache:' });
    const pipeline = raw.pipeline();
    for (let i = 0; i < 10_000; i++) pipeline.set(`pdv:cache:orders:${i}`, '1');
    for (let i = 0; i < 100; i++) pipeline.set(`pdv:cache:menu:${i}`, '1');
    for (let i = 0; i < 100; i++) pipeline.set(`other-app:orders:${i}`, '1');
    pipeline.set('pdv:cacheorders:1', '1'); // shares the prefix text, not the prefix
    await pipeline.exec();
    const unlinkBefore = await commandCalls('unlink');

    expect(await cache.deletePattern('orders:*')).toBe(10_000);

    expect(await commandCalls('keys')).toBe(0);
    expect(await commandCalls('flushdb')).toBe(0);
    // Batched: far fewer UNLINK calls than keys.
    const unlinks = (await commandCalls('unlink')) - unlinkBefore;
    expect(unlinks).toBeGreaterThan(0);
    expect(unlinks).toBeLessThanOrEqual(100);
    expect(await raw.dbsize()).toBe(201);
    expect(await raw.exists('other-app:orders:1', 'pdv:cacheorders:1', 'pdv:cache:menu:5')).toBe(3);
  });

  it('does not keep a value read locally while its deletePattern was running', async () => {
    const cache = await caches.redis({ redis: server.url, prefix: 'race:' });
    const pipeline = raw.pipeline();
    for (let i = 0; i < 20_000; i++) pipeline.set(`race:order:${i}`, JSON.stringify(i));
    await pipeline.exec();
    // Reads of matching keys keep landing while SCAN and UNLINK go back and forth.
    let reading = true;
    const reader = (async () => {
      for (let n = 0; reading && n < 100_000; n++) {
        await cache.get(`order:${n % 50}`);
      }
    })();
    await cache.deletePattern('order:*');
    reading = false;
    await reader;
    for (let i = 0; i < 50; i++) expect(await cache.get(`order:${i}`)).toBeUndefined();
  });

  it('clear removes only its own prefix, without FLUSHDB', async () => {
    const cache = await caches.redis({ redis: server.url, prefix: 'app-a:' });
    await raw.set('app-b:x', '1');
    await cache.set('x', 1);
    await cache.set('y', 2);
    await cache.clear();
    expect(await raw.exists('app-a:x', 'app-a:y')).toBe(0);
    expect(await raw.get('app-b:x')).toBe('1');
    expect(await commandCalls('flushdb')).toBe(0);
    expect(await commandCalls('flushall')).toBe(0);
  });

  it('treats glob characters in the prefix literally', async () => {
    const cache = await caches.redis({ redis: server.url, prefix: 'odd[1]*:' });
    await raw.set('oddX*:k', 'not ours');
    await cache.set('k', 'ours');
    expect(await cache.deletePattern('*')).toBe(1);
    expect(await raw.get('oddX*:k')).toBe('not ours');
  });
});
