import { fileURLToPath } from 'node:url';
import {
  afterThisTest,
  readmeCode,
  runReadmeApp,
  startCluster,
  startSentinel,
} from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The README's Cluster and Sentinel examples, run as pasted (as ES modules in node processes,
// this package from its source), two instances of each against a private cluster or Sentinel.

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;
const sources = { '@bancada/limits': `${PACKAGE}src/index.ts` };

/** The statuses of `count` requests to `path`, sent in turn to each instance. */
async function statuses(urls: string[], path: string, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++)
    seen.push((await fetch(`${urls[i % urls.length]}${path}`)).status);
  return seen;
}

describe('the README examples', () => {
  it('Redis Cluster: two instances allow 5 requests and 2 streams between them', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const code = readmeCode(README, '## Redis Cluster');
    const env = { REDIS_URL: cluster.url };
    const apps = [await runReadmeApp(PACKAGE, code, { sources, env })];
    apps.push(await runReadmeApp(PACKAGE, code, { sources, env }));
    const urls = apps.map((app) => app.url);

    expect(await statuses(urls, '/api/menu', 7)).toEqual([200, 200, 200, 200, 200, 429, 429]);

    const streams = new AbortController();
    afterThisTest(() => streams.abort());
    const open = (url: string) =>
      fetch(`${url}/events`, { signal: streams.signal }).then((res) => res.status);
    expect(await open(urls[0]!)).toBe(200);
    expect(await open(urls[1]!)).toBe(200);
    expect(await open(urls[0]!)).toBe(429);
    expect(await open(urls[1]!)).toBe(429);
    expect(apps[0]!.process.stdout).toContain('limits: redis cluster (per-IP limit of 2');
  });

  it('Redis Sentinel: two instances allow 5 requests between them', async () => {
    const sentinel = await startSentinel();
    afterThisTest(() => sentinel.stop());
    // The addresses of the example, replaced by this set-up's Sentinels.
    const code = readmeCode(README, '## Redis Sentinel').replace(
      /sentinels: \[.*\],/,
      `sentinels: ${JSON.stringify(sentinel.sentinelList)},`,
    );
    expect(code).toContain(JSON.stringify(sentinel.sentinelList));
    const apps = [await runReadmeApp(PACKAGE, code, { sources })];
    apps.push(await runReadmeApp(PACKAGE, code, { sources }));

    const urls = apps.map((app) => app.url);
    expect(await statuses(urls, '/api/menu', 7)).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });
});
