import type { FaultProxy, PrivateRedis } from '@bancada/testkit';
import { faultProxy, startRedis } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createCache } from '../src/index.js';
import { instances, recordingLogger, waitFor } from './helpers/fixtures.js';

const caches = instances('outage');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function privateRedis(): Promise<PrivateRedis> {
  const server = await startRedis();
  cleanups.push(() => server.stop());
  return server;
}

function createCacheFor(url: string) {
  return createCache({ redis: url, logger: false, prefix: caches.prefix() });
}

async function proxyTo(url: string): Promise<FaultProxy> {
  const proxy = await faultProxy(url);
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('when Redis goes away', () => {
  it('keeps answering from the local tier while Redis is dead, and is distributed again after', async () => {
    const server = await privateRedis();
    const logger = recordingLogger();
    const a = await caches.redis({ redis: server.url, logger });
    const b = await caches.redis({ redis: server.url });
    await a.set('menu', { version: 1 });
    await waitFor('b to hold the menu locally', async () => {
      await b.get('menu');
      return b.getStats().l1.size === 1;
    });

    await server.kill();
    await waitFor('a to report degraded', () => a.getStats().degraded);
    await waitFor('b to report degraded', () => b.getStats().degraded);

    // No call throws because of Redis; the local tier serves and fills.
    expect(await b.get('menu')).toStrictEqual({ version: 1 });
    await a.set('menu', { version: 2 });
    expect(await a.get('menu')).toStrictEqual({ version: 2 });
    expect(await a.getOrSet('plan', () => 'pro')).toBe('pro');
    expect(await a.get('plan')).toBe('pro');
    expect(await a.delete('menu')).toBe(true);
    expect(await a.deletePattern('*')).toBeGreaterThanOrEqual(0);
    await a.clear();
    expect(logger.lines.some((line) => /redis unavailable.*degraded/.test(line))).toBe(true);

    await server.restart();
    await waitFor('a to be distributed again', () => !a.getStats().degraded, 10_000);
    await waitFor('b to be distributed again', () => !b.getStats().degraded, 10_000);
    expect(logger.lines.some((line) => /redis is back/.test(line))).toBe(true);
    // In our words: not ioredis's, which read like a setting to change.
    expect(logger.lines.join('\n')).not.toMatch(/maxRetriesPerRequest|max retries per request/i);

    // Nothing from before or during the outage survives locally: the restarted Redis is empty.
    expect(await b.get('menu')).toBeUndefined();
    expect(await a.get('plan')).toBeUndefined();

    await a.set('menu', { version: 3 });
    await waitFor('b to see the write made after recovery', async () => {
      const menu = await b.get<{ version: number }>('menu');
      return menu?.version === 3;
    });
    // Tracking is back too: b answers from its local tier again, and hears of changes.
    await waitFor('b to serve the menu locally again', async () => {
      const before = b.getStats().l1.hits;
      await b.get('menu');
      return b.getStats().l1.hits > before;
    });
    await a.set('menu', { version: 4 });
    await waitFor('b to hear of the next write', async () => {
      const menu = await b.get<{ version: number }>('menu');
      return menu?.version === 4;
    });
  });

  it('starts degraded when Redis is down at start, then connects by itself', async () => {
    const server = await privateRedis();
    await server.kill();
    const a = await caches.redis({ redis: server.url });
    const b = await caches.redis({ redis: server.url });
    expect(await a.get('k')).toBeUndefined();
    expect(a.getStats().degraded).toBe(true);
    await a.set('k', 'local');
    expect(await a.get('k')).toBe('local');

    await server.restart();
    await waitFor('a to connect', () => !a.getStats().degraded, 10_000);
    await waitFor('b to connect', () => !b.getStats().degraded, 10_000);
    expect(await a.get('k')).toBeUndefined();
    await a.set('k', 'shared');
    await waitFor('b to read the shared value', async () => (await b.get('k')) === 'shared');
  });

  it('does not serve a value replaced during the outage, and replays its own deletes', async () => {
    // One instance is cut off while another keeps writing: the stale-after-recovery case.
    const server = await privateRedis();
    const proxy = await proxyTo(server.url);
    const raw = new Redis(server.url);
    cleanups.push(() => raw.disconnect());
    const prefix = caches.prefix();
    // A generous timeout: a process starved of CPU by parallel test files must not time out
    // and reconnect (which rightly drops the local tier) before the cut this test is about.
    const isolated = await caches.redis({ redis: proxy.url(server.url), prefix, timeoutMs: 2000 });
    const other = await caches.redis({ redis: server.url, prefix, timeoutMs: 2000 });

    await other.set('price', 10);
    await other.set('order:7', { status: 'new' });
    // Invalidations travel on another connection than replies: make sure those of the two
    // writes above have arrived, or one could drop a copy after it was filled. They arrive
    // in order, so once a later write's invalidation is seen, theirs were too.
    await other.set('fence', 1);
    await waitFor('the fence to be held locally', async () => (await isolated.get('fence')) === 1);
    await other.set('fence', 2);
    await waitFor('the fence to move', async () => (await isolated.get('fence')) === 2);
    for (const key of ['price', 'order:7']) {
      await waitFor(`${key} to be held locally`, async () => {
        const before = isolated.getStats().l1.hits;
        await isolated.get(key);
        return isolated.getStats().l1.hits > before;
      });
    }

    proxy.cut();
    await waitFor('the isolated instance to notice', () => isolated.getStats().degraded);
    await other.set('price', 12); // the isolated instance cannot hear of this
    expect(await isolated.get('price')).toBe(10); // degraded: its local copy is all it has
    expect(await isolated.delete('order:7')).toBe(true); // held locally; Redis still has it
    expect(await raw.exists(`${prefix}order:7`)).toBe(1);

    proxy.restore();
    await waitFor('the isolated instance to recover', () => !isolated.getStats().degraded, 10_000);
    expect(await isolated.get('price')).toBe(12);
    // Its delete was replayed, so the other instance stops serving the deleted order too.
    expect(await raw.exists(`${prefix}order:7`)).toBe(0);
    await waitFor(
      'the other instance to lose the order',
      async () => (await other.get('order:7')) === undefined,
    );
  });

  it('does not hang on a Redis that stops answering, and recovers when it answers again', async () => {
    const server = await privateRedis();
    const proxy = await proxyTo(server.url);
    const timeoutMs = 100;
    const cache = await caches.redis({ redis: proxy.url(server.url), timeoutMs });
    await cache.set('k', 1);

    proxy.freeze();
    const started = Date.now();
    expect(await cache.get('never-set')).toBeUndefined();
    await cache.set('k', 2);
    // Bounded by the timeout, not by TCP: a generous margin keeps this independent of load.
    expect(Date.now() - started).toBeLessThan(timeoutMs * 20);
    expect(cache.getStats().degraded).toBe(true);
    expect(await cache.get('k')).toBe(2);

    proxy.restore();
    await waitFor('the cache to recover', () => !cache.getStats().degraded, 15_000);
    // The write that timed out was replayed as a delete: Redis may or may not have applied it.
    expect(await cache.get('k')).toBeUndefined();
    await cache.set('k', 3);
    expect(await cache.get('k')).toBe(3);
  });

  it('after losing only its invalidation connection, never serves a value replaced meanwhile', async () => {
    const server = await privateRedis();
    const raw = new Redis(server.url);
    cleanups.push(() => raw.disconnect());
    const a = await caches.redis({ redis: server.url });
    const b = await caches.redis({ redis: server.url });
    await a.set('price', 10);
    await waitFor('b to hold the price locally', async () => {
      const before = b.getStats().l1.hits;
      await b.get('price');
      return b.getStats().l1.hits > before;
    });

    // Kill every subscriber connection: the commands connections stay up, and Redis drops
    // the invalidations it cannot deliver, so b never hears of this write.
    const subscribers = String(await raw.client('LIST'))
      .split('\n')
      .filter((line) => line.includes('name=bancada-cache-sub'))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    expect(subscribers.length).toBe(2);
    for (const id of subscribers) await raw.client('KILL', 'ID', id);
    await a.set('price', 12);

    // Once its subscriber is back, b drops its whole local tier before trusting it again.
    await waitFor('the subscribers to be back', async () => {
      const list = String(await raw.client('LIST'));
      return list.split('name=bancada-cache-sub').length - 1 === 2;
    });
    await waitFor('b to drop what it held', () => b.getStats().l1.size === 0);
    for (let i = 0; i < 20; i++) expect(await b.get('price')).toBe(12);
    expect(b.getStats().degraded).toBe(false);
  });

  it('drops every local copy when the database is flushed behind its back', async () => {
    const server = await privateRedis();
    const raw = new Redis(server.url);
    cleanups.push(() => raw.disconnect());
    const a = await caches.redis({ redis: server.url });
    await a.set('menu', 'm');
    expect(a.getStats().l1.size).toBe(1);
    await raw.flushdb();
    await waitFor('the local copy to go', async () => (await a.get('menu')) === undefined);
  });

  it('does not take a busy process for a dead Redis', async () => {
    // Redis answers while this process is blocked (a long synchronous task, a GC pause):
    // the answer waits unread in the socket and must not be mistaken for a stall.
    const server = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    cleanups.push(() => server.stop());
    const raw = new Redis(server.url);
    cleanups.push(() => raw.disconnect());
    const logger = recordingLogger();
    const cache = await caches.redis({ redis: server.url, timeoutMs: 100, logger });
    await raw.ping();
    await cache.set('k', 1);

    const sleeping = raw.call('DEBUG', 'SLEEP', '0.2'); // Redis answers nobody for 200 ms
    const read = cache.get('never-set'); // not held locally: goes to Redis
    await new Promise((resolve) => setTimeout(resolve, 60)); // the watchdog sees it pending
    // Busy in an I/O-phase callback, as a request handler would be: the loop then runs
    // timers before it reads sockets again. Redis answers while we are busy.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const busyUntil = Date.now() + 300;
        while (Date.now() < busyUntil) {}
        resolve();
      }),
    );
    expect(await read).toBeUndefined();
    await sleeping;
    expect(cache.getStats().degraded).toBe(false);
    expect(await cache.get('k')).toBe(1); // the local tier was not dropped
    expect(cache.getStats().errors).toBe(0);
    expect(logger.lines.filter((line) => /unavailable/.test(line))).toEqual([]);
  });

  it('closes promptly even when Redis has stopped answering', async () => {
    const server = await privateRedis();
    const proxy = await proxyTo(server.url);
    const cache = createCacheFor(proxy.url(server.url));
    await cache.set('k', 1);
    proxy.freeze();
    const started = Date.now();
    await cache.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('survives repeated outages under steady traffic without an error reaching a caller', async () => {
    const server = await privateRedis();
    const a = await caches.redis({ redis: server.url, timeoutMs: 100 });
    const b = await caches.redis({ redis: server.url, timeoutMs: 100 });
    let stop = false;
    let calls = 0;
    const failures: unknown[] = [];
    const traffic = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const cache = i % 2 === 0 ? a : b;
        const key = `k${i % 50}`;
        await Promise.all([
          cache.set(key, i),
          cache.get(key),
          cache.getOrSet(`g${i % 7}`, () => i),
        ]).catch((error: unknown) => failures.push(error));
        calls += 3;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    for (let round = 0; round < 2; round++) {
      await server.kill();
      await waitFor('degraded', () => a.getStats().degraded && b.getStats().degraded);
      await server.restart();
      await waitFor('recovered', () => !a.getStats().degraded && !b.getStats().degraded, 10_000);
    }
    stop = true;
    await traffic;
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(30);
    await a.set('after', 'ok');
    await waitFor('b to see writes again', async () => (await b.get('after')) === 'ok');
  });
});
