import { fileURLToPath } from 'node:url';
import {
  afterThisTest,
  readmeCode,
  runReadmeApp,
  startCluster,
  startSentinel,
  waitFor,
} from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import type { JobStats } from '../src/index.js';

// The README's Cluster and Sentinel examples, run as pasted (as ES modules in node processes,
// this package from its source), two instances of each.

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;
const sources = { '@bancada/jobs': `${PACKAGE}src/index.ts` };

async function stats(urls: string[]): Promise<JobStats[]> {
  return Promise.all(
    urls.map(async (url) => (await (await fetch(`${url}/health/jobs`)).json()) as JobStats),
  );
}

/** Two instances of `code`: one leads and has run the job once, the other follows it. */
async function expectOneLeader(code: string, env: Record<string, string> = {}) {
  const apps = [await runReadmeApp(PACKAGE, code, { sources, env })];
  apps.push(await runReadmeApp(PACKAGE, code, { sources, env }));
  const urls = apps.map((app) => app.url);
  await waitFor('one instance to lead', async () => {
    const all = await stats(urls);
    return all.filter((s) => s.leader).length === 1 && all.every((s) => s.leaderId);
  });
  const all = await stats(urls);
  expect(all.map((s) => s.mode)).toEqual(['redis', 'redis']);
  // A period of a minute: the first run, on the leader only.
  expect(all.map((s) => s.runs).sort()).toEqual([0, 1]);
  return apps;
}

describe('the README examples', () => {
  it('Redis Cluster: two instances, one leader, one run', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const code = readmeCode(README, '## Redis Cluster');
    const apps = await expectOneLeader(code, { REDIS_URL: cluster.url });
    expect(apps[0]!.process.stdout).toContain('on redis cluster');
  });

  it('Redis Sentinel: two instances, one leader, one run', async () => {
    const sentinel = await startSentinel();
    afterThisTest(() => sentinel.stop());
    // The addresses of the example, replaced by this set-up's Sentinels.
    const code = readmeCode(README, '## Redis Sentinel').replace(
      /sentinels: \[.*\],/,
      `sentinels: ${JSON.stringify(sentinel.sentinelList)},`,
    );
    expect(code).toContain(JSON.stringify(sentinel.sentinelList));
    await expectOneLeader(code);
  });
});
