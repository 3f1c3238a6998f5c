import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  atMost,
  checkRedisSource,
  checkWholeNumbers,
  claimRegistry,
  once,
  resolveLogger,
  scrapedFrom,
  silentLogger,
  ThrottledLog,
  TimeoutError,
  within,
} from '../src/index.js';

const invalid = (message: string) => new TypeError(message);

describe('within', () => {
  it('gives the work its answer when it settles in time', async () => {
    await expect(within(Promise.resolve(7), 1000, 'slow')).resolves.toBe(7);
    await expect(within(Promise.reject(new Error('no')), 1000, 'slow')).rejects.toThrow('no');
  });

  it('rejects with a TimeoutError naming the wait when it does not', async () => {
    const never = new Promise(() => {});
    await expect(within(never, 20, 'no answer from Redis within 20 ms')).rejects.toThrow(
      new TimeoutError('no answer from Redis within 20 ms'),
    );
  });

  it('atMost never rejects', async () => {
    await expect(atMost(Promise.reject(new Error('no')), 50)).resolves.toBeUndefined();
    await expect(atMost(new Promise(() => {}), 20)).resolves.toBeUndefined();
  });

  it('once says whether the event came in time, and leaves no listener behind', async () => {
    const emitter = new EventEmitter();
    const fired = once(emitter, 'ready', 1000);
    emitter.emit('ready');
    expect(await fired).toBe(true);
    expect(await once(emitter, 'ready', 20)).toBe(false);
    expect(emitter.listenerCount('ready')).toBe(0);
  });
});

describe('ThrottledLog', () => {
  it('lets a topic through once per interval', () => {
    const lines: string[] = [];
    const log = new ThrottledLog({ ...silentLogger, warn: (m) => lines.push(m) }, 10_000);
    log.warn('redis', 'redis unavailable');
    log.warn('redis', 'redis unavailable');
    log.warn('other', 'something else');
    expect(lines).toEqual(['redis unavailable', 'something else']);
    expect(log.allow('redis', Date.now() + 10_001)).toBe(true);
  });
});

describe('resolveLogger', () => {
  it('takes console by default, nothing for false, and refuses what cannot log', () => {
    expect(resolveLogger(undefined, invalid)).toBe(console);
    expect(resolveLogger(false, invalid)).toBe(silentLogger);
    expect(() => resolveLogger({ info() {} } as never, invalid)).toThrow(
      'logger must have info, warn and error methods, or be false',
    );
  });
});

describe('option checks', () => {
  it('take a redis:// URL, a client or options, and name what they refuse', () => {
    checkRedisSource(undefined, invalid);
    checkRedisSource('rediss://cache.example:6380', invalid);
    checkRedisSource({ host: '127.0.0.1' }, invalid);
    expect(() => checkRedisSource('localhost:6379', invalid)).toThrow(
      'redis URL must start with redis://, rediss://, redis-cluster:// or redis-sentinel://, got "localhost:6379"',
    );
    expect(() => checkRedisSource(6379, invalid, { orFalse: true })).toThrow(
      'redis must be a redis:// URL, an ioredis client, ioredis options or false',
    );
  });

  it('take whole numbers of at least 1 only', () => {
    checkWholeNumbers({ a: 1, b: 500 }, ['a', 'b'], invalid);
    expect(() => checkWholeNumbers({ a: 1.5 }, ['a'], invalid)).toThrow(
      'a must be a whole number of at least 1, got 1.5',
    );
    expect(() => checkWholeNumbers({ a: 0 }, ['a'], invalid)).toThrow(TypeError);
  });
});

describe('scrapedFrom', () => {
  it('reads counters and gauges from the stats at each scrape', async () => {
    const registry = new Registry();
    const stats = { sent: 3, open: 2 };
    const { counter, gauge } = scrapedFrom(registry, () => stats);
    counter('test_sent_total', 'Sent.', (s) => s.sent);
    gauge('test_open', 'Open.', (s) => s.open);
    const read = async () => (await registry.metrics()).split('\n');
    expect(await read()).toEqual(expect.arrayContaining(['test_sent_total 3', 'test_open 2']));
    stats.sent = 5;
    stats.open = 0;
    expect(await read()).toEqual(expect.arrayContaining(['test_sent_total 5', 'test_open 0']));
  });
});

describe('claimRegistry', () => {
  it('takes each reporter once per registry, and again once released', () => {
    const registry = new Registry();
    const release = claimRegistry(registry, 'cache', 'orders', invalid);
    claimRegistry(registry, 'cache', 'menus', invalid);
    expect(() => claimRegistry(registry, 'cache', 'orders', invalid)).toThrow(
      'a cache named "orders" already reports to this registry: give each cache its own name',
    );
    release();
    claimRegistry(registry, 'cache', 'orders', invalid);
    claimRegistry(registry, 'hub', undefined, invalid);
    expect(() => claimRegistry(registry, 'hub', undefined, invalid)).toThrow(
      'a hub already reports to this registry: give each hub its own registry',
    );
    claimRegistry(new Registry(), 'hub', undefined, invalid);
  });
});
