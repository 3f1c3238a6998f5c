import { fileURLToPath } from 'node:url';
import {
  keyPrefix,
  type PrivateSentinel,
  readmeCode,
  recordingLogger,
  runReadmeApp,
  startSentinel,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cache, type CacheOptions, createCache } from '../src/index.js';
import { waitFor } from './helpers/fixtures.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

let sentinel: PrivateSentinel;
const opened: Cache[] = [];

beforeAll(async () => {
  sentinel = await startSentinel();
}, 90_000);
afterAll(() => sentinel?.stop());
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()));
});

function open(options: CacheOptions): Cache {
  const cache = createCache({ redis: sentinel.url, logger: false, ...options });
  opened.push(cache);
  return cache;
}

describe('behind Sentinel', () => {
  it('says at start which master it follows', () => {
    const logger = recordingLogger();
    open({ prefix: keyPrefix('sentinel'), logger });
    expect(logger.lines).toEqual(['info cache: redis sentinel mymaster (distributed)']);
  });

  it('takes ioredis Sentinel options, and a set on one instance reaches the other', async () => {
    const prefix = keyPrefix('sentinel');
    const a = open({ prefix });
    const b = open({
      prefix,
      redis: { sentinels: sentinel.sentinelList, name: sentinel.masterName },
    });
    await a.set('price', 10);
    await waitFor('b to hold the price locally', async () => {
      const before = b.getStats().l1.hits;
      await b.get('price');
      return b.getStats().l1.hits > before;
    });
    await a.set('price', 12);
    await waitFor('b to see the new price', async () => (await b.get('price')) === 12);
    const master = await sentinel.master();
    const raw = new Redis(master.url);
    try {
      expect(await raw.get(`${prefix}price`)).toBe('12');
    } finally {
      raw.disconnect();
    }
  });

  it('with a master name the Sentinels do not know, says why and serves nothing stale, without hanging', async () => {
    const logger = recordingLogger();
    const cache = open({
      prefix: keyPrefix('sentinel'),
      logger,
      redis: sentinel.url.replace(/\/mymaster$/, '/nosuchmaster'),
    });
    const started = performance.now();
    expect(await cache.get('menu')).toBeUndefined();
    await cache.set('menu', 1);
    expect(await cache.getOrSet('menu', () => 2)).toBe(2);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(cache.getStats().degraded).toBe(true);
    await waitFor('the reason in the log', () =>
      logger.lines.some((line) => line.includes('nosuchmaster')),
    );
    expect(logger.lines).toContainEqual(expect.stringMatching(/^warn cache: redis unavailable/));
  });

  it("runs the README's example as pasted", async () => {
    const app = await runReadmeApp(
      PACKAGE,
      readmeCode(`${PACKAGE}README.md`, '## Redis Sentinel'),
      {
        sources: { '@bancada/cache': `${PACKAGE}src/index.ts` },
        env: {
          REDIS_SENTINELS: sentinel.sentinelList.map((s) => `${s.host}:${s.port}`).join(','),
          REDIS_MASTER: sentinel.masterName,
        },
      },
    );
    const answer = await fetch(`${app.url}/api/limits/r1`);
    expect(await answer.json()).toEqual({ tables: 12 });
    await waitFor('the start line', () => app.process.stdout.includes('cache: redis'));
    expect(app.process.stdout).toContain('cache: redis sentinel mymaster (distributed)');
  });
});
