import { fileURLToPath } from 'node:url';
import {
  afterThisTest,
  createDatabase,
  readmeCode,
  runReadmeApp,
  startCluster,
  startSentinel,
  waitFor,
} from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import type { PgBridgeStats } from '../src/index.js';

// The README's Cluster and Sentinel examples, run as pasted (as ES modules in node processes,
// this package and @bancada/realtime from their source), two instances of each. They are the
// bridge of the README's example: that example's hub and server come first (here, a hub
// that fans out over no Redis, since only the lease is under test).

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;
const sources = {
  '@bancada/pg-bridge': `${PACKAGE}src/index.ts`,
  '@bancada/realtime': fileURLToPath(new URL('../../realtime/src/index.ts', import.meta.url)),
};
const prelude = `
import { createServer } from 'node:http';
import express from 'express';
import { createPgBridge } from '@bancada/pg-bridge';
import { createHub } from '@bancada/realtime';

const hub = createHub({ authenticate: async () => null, redis: false, logger: false });
const app = express();
app.get('/bridge', (req, res) => res.json(bridge.stats()));
createServer(app).listen(Number(process.env.PORT));
`;

/** Two instances of the bridge of `section`, its addresses replaced: one listens. */
async function expectOneListener(section: string, replace: (code: string) => string) {
  const db = await createDatabase('pg_bridge_readme');
  afterThisTest(() => db.drop());
  const example = readmeCode(README, section);
  const code = `${prelude}\n${replace(example)}`;
  expect(code).not.toContain('10.0.0.1');
  const env = { DATABASE_URL: db.url };
  const apps = [await runReadmeApp(PACKAGE, code, { sources, env })];
  apps.push(await runReadmeApp(PACKAGE, code, { sources, env }));
  const stats = () =>
    Promise.all(
      apps.map(async (app) => (await (await fetch(`${app.url}/bridge`)).json()) as PgBridgeStats),
    );
  await waitFor('one bridge to lead and listen', async () => {
    const all = await stats();
    return all.filter((s) => s.leader && s.listening).length === 1 && all.every((s) => s.leaderId);
  });
  expect((await stats()).filter((s) => s.listening)).toHaveLength(1);
  return apps;
}

describe('the README examples', () => {
  it('Redis Cluster: two instances, one listener', async () => {
    const cluster = await startCluster();
    afterThisTest(() => cluster.stop());
    const apps = await expectOneListener('## Redis Cluster', (code) =>
      code.replace(/cluster: \[.*\]/, `cluster: ${JSON.stringify(cluster.seeds)}`),
    );
    expect(apps[0]!.process.stdout).toContain('on redis cluster');
  });

  it('Redis Sentinel: two instances, one listener', async () => {
    const sentinel = await startSentinel();
    afterThisTest(() => sentinel.stop());
    await expectOneListener('## Redis Sentinel', (code) =>
      code.replace(/'redis-sentinel:\/\/[^']*'/, `'${sentinel.url}'`),
    );
  });
});
