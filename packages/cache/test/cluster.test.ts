import { fileURLToPath } from 'node:url';
import {
  keyPrefix,
  type PrivateCluster,
  readmeCode,
  recordingLogger,
  runReadmeApp,
  startCluster,
} from '@bancada/testkit';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cache, type CacheOptions, createCache } from '../src/index.js';
import { keySlot } from '../src/key-slot.js';
import { waitFor } from './helpers/fixtures.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

let cluster: PrivateCluster;
let raw: Cluster;
const opened: Cache[] = [];

beforeAll(async () => {
  cluster = await startCluster();
  raw = new Cluster(cluster.seeds);
}, 90_000);
afterAll(async () => {
  raw?.disconnect();
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()));
});

function open(options: CacheOptions): Cache {
  const cache = createCache({ redis: cluster.url, logger: false, ...options });
  opened.push(cache);
  return cache;
}

/** Two instances of one app on the cluster, connected (a busy machine may take a while). */
async function twoInstances(options: CacheOptions = {}) {
  const prefix = keyPrefix('cluster');
  const a = open({ prefix, ...options });
  const b = open({ prefix, ...options });
  for (const cache of [a, b]) {
    await waitFor('the cache to reach the cluster', async () => {
      await cache.get('nothing');
      return !cache.getStats().degraded;
    });
  }
  return { prefix, a, b };
}

/** One key (without prefix) per master of the cluster. */
async function keyOnEveryMaster(prefix: string): Promise<string[]> {
  const masters = await cluster.masters();
  const found = new Map<number, string>();
  for (let i = 0; found.size < masters.length; i++) {
    const master = await cluster.masterOf(`${prefix}item-${i}`);
    if (!found.has(master.port)) found.set(master.port, `item-${i}`);
  }
  return [...found.values()];
}

/** Reads until the key sits in the instance's local tier (a local hit is counted). */
async function warm(cache: Cache, key: string): Promise<void> {
  await waitFor(`${key} to be held locally`, async () => {
    const before = cache.getStats().l1.hits;
    await cache.get(key);
    return cache.getStats().l1.hits > before;
  });
}

describe('on a Redis Cluster', () => {
  it('says at start that it runs on a cluster of 3 masters', async () => {
    const logger = recordingLogger();
    const cache = open({ prefix: keyPrefix('cluster'), logger });
    await cache.set('x', 1);
    // (On a busy machine a first connection may time out and be retried: a warning first.)
    await waitFor('the start line', () =>
      logger.lines.includes('info cache: redis cluster, 3 masters (distributed)'),
    );
  });

  it('a set on one instance replaces what the other holds locally, on every master', async () => {
    const { prefix, a, b } = await twoInstances();
    const keys = await keyOnEveryMaster(prefix);
    for (const key of keys) await a.set(key, { version: 1 });
    for (const key of keys) await warm(b, key);
    for (const key of keys) await a.set(key, { version: 2 });
    for (const key of keys) {
      await waitFor(
        `b to see ${key} change`,
        async () => (await b.get<{ version: number }>(key))?.version === 2,
      );
    }
    // A write from outside Bancada is heard too.
    await raw.set(prefix + keys[0], JSON.stringify({ version: 3 }));
    await waitFor(
      'b to see the outside write',
      async () => (await b.get<{ version: number }>(keys[0]!))?.version === 3,
    );
  });

  it('a delete on one instance removes the key from the other, on every master', async () => {
    const { prefix, a, b } = await twoInstances();
    const keys = await keyOnEveryMaster(prefix);
    for (const key of keys) await a.set(key, 'here');
    for (const key of keys) await warm(b, key);
    for (const key of keys) expect(await a.delete(key)).toBe(true);
    for (const key of keys) {
      await waitFor(`b to lose ${key}`, async () => (await b.get(key)) === undefined);
    }
  });

  it('stops trusting only the keys of a node whose invalidations stopped, until they flow again', async () => {
    const { prefix, a, b } = await twoInstances();
    const keys = await keyOnEveryMaster(prefix);
    for (const key of keys) await a.set(key, 'before');
    for (const key of keys) await warm(b, key);
    const [cut, ...others] = keys as [string, ...string[]];
    const node = await cluster.masterOf(prefix + cut);
    const admin = raw.nodes('master').find((n) => n.options.port === node.port)!;
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');

    const servedLocally = async (key: string) => {
      const before = b.getStats().l1.hits;
      await b.get(key);
      return b.getStats().l1.hits > before;
    };
    await waitFor(`b to stop serving ${cut} locally`, async () => !(await servedLocally(cut)));
    // Nothing would tell b about this write if it still trusted its copy.
    await raw.set(prefix + cut, JSON.stringify('after'));
    expect(await b.get(cut)).toBe('after');
    for (const key of others) expect(await servedLocally(key), key).toBe(true);
    // Its subscriber reconnects, and the node's keys are served locally again.
    await warm(b, cut);
    await a.set(cut, 'latest');
    await waitFor('b to see the latest write', async () => (await b.get(cut)) === 'latest');
  });

  it('deletePattern and clear walk every master', async () => {
    const { prefix, a, b } = await twoInstances();
    const keys = await keyOnEveryMaster(prefix);
    for (const key of keys) {
      await a.set(`menu:${key}`, 1);
      await a.set(`stock:${key}`, 1);
    }
    for (const key of keys) await warm(b, `menu:${key}`);

    expect(await a.deletePattern('menu:*')).toBe(keys.length);
    for (const key of keys) {
      await waitFor(
        `b to lose menu:${key}`,
        async () => (await b.get(`menu:${key}`)) === undefined,
      );
      expect(await b.get(`stock:${key}`)).toBe(1);
    }

    await b.clear();
    for (const key of keys) {
      await waitFor(
        `a to lose stock:${key}`,
        async () => (await a.get(`stock:${key}`)) === undefined,
      );
    }
    const left = await Promise.all(
      raw.nodes('master').map((node) => node.keys(`${prefix.replace(/[*?[\]]/g, '\\$&')}*`)),
    );
    expect(left.flat()).toEqual([]);
  });

  it('runs one getOrSet loader for a key across instances (lock)', async () => {
    const { a, b } = await twoInstances({ lock: true });
    let loads = 0;
    const loader = async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { loaded: true };
    };
    const values = await Promise.all([
      a.getOrSet('report', loader),
      b.getOrSet('report', loader),
      a.getOrSet('report', loader),
      b.getOrSet('report', loader),
    ]);
    expect(values).toEqual(Array(4).fill({ loaded: true }));
    expect(loads).toBe(1);
  });

  it('takes an ioredis Cluster as a template: its keyPrefix is kept, and it is neither used nor closed', async () => {
    const template = new Cluster(cluster.seeds, { keyPrefix: 'tenant-7:', lazyConnect: true });
    try {
      const prefix = keyPrefix('cluster');
      const cache = open({ redis: template, prefix });
      await waitFor('the cache to reach the cluster', async () => {
        await cache.get('nothing');
        return !cache.getStats().degraded;
      });
      await cache.set('menu', { items: 2 });
      expect(await raw.get(`tenant-7:${prefix}menu`)).toBe('{"items":2}');
      await cache.clear();
      expect(await raw.exists(`tenant-7:${prefix}menu`)).toBe(0);
      expect(template.status).toBe('wait');
    } finally {
      template.disconnect();
    }
  });

  it('knows the slot of a key as the cluster does', async () => {
    const keys = ['menu', '{restaurant:7}:menu', 'a{}b', '{', 'plato-ñandú', `${'x'.repeat(300)}`];
    for (const key of keys) {
      expect(keySlot(key), key).toBe(Number(await raw.call('CLUSTER', 'KEYSLOT', key)));
    }
  });

  it('with a seed list nobody answers on, says why and works from the local tier, without hanging', async () => {
    const { freePort } = await import('@bancada/testkit');
    const seeds = `redis-cluster://127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const logger = recordingLogger();
    const cache = open({ prefix: keyPrefix('cluster'), logger, redis: seeds });
    const started = performance.now();
    expect(await cache.get('menu')).toBeUndefined();
    await cache.set('menu', 1);
    expect(await cache.get('menu')).toBe(1);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(cache.getStats().degraded).toBe(true);
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/^warn cache: redis cluster unavailable \(no /),
    );
    await waitFor('the reason in the log', () =>
      logger.lines.some((line) => /ECONNREFUSED|refresh slots/i.test(line)),
    );
  });

  it("runs the README's example as pasted", async () => {
    const app = await runReadmeApp(PACKAGE, readmeCode(`${PACKAGE}README.md`, '## Redis Cluster'), {
      sources: { '@bancada/cache': `${PACKAGE}src/index.ts` },
      env: { REDIS_CLUSTER_NODES: cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',') },
    });
    const answer = await fetch(`${app.url}/api/menu/7`);
    expect(await answer.json()).toEqual({ id: '7', items: ['coxinha', 'pão de queijo'] });
    await waitFor('the start line', () => app.process.stdout.includes('cache: redis'));
    expect(app.process.stdout).toContain('cache: redis cluster, 3 masters (distributed)');
  });
});
