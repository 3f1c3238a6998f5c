import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createDatabase,
  type PrivateRedis,
  startRedis,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import pg from 'pg';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { behindNginx, type Instance, startInstances, stopInstances } from './helpers/cluster.js';
import { openDashboard, placeOrder, shownOrders } from './helpers/dashboard.js';

// The retrofit of docs/retrofit.md, applied as a user would: retrofit.patch on a copy of the
// app, then three instances of it behind nginx, on one Redis and one Postgres, driven by the
// app's own page, unchanged, in Chromium.
const appDir = fileURLToPath(new URL('..', import.meta.url));
const copy = `${appDir}test-output/retrofitted-${process.pid}`;
const PERIOD_MS = 2000;

let browser: Browser;
let db: TestDatabase;
let redis: PrivateRedis;
let instances: Instance[];
let nginx: Awaited<ReturnType<typeof behindNginx>>;

beforeAll(async () => {
  rmSync(copy, { recursive: true, force: true });
  mkdirSync(copy, { recursive: true });
  for (const file of ['server.js', 'package.json', 'public']) {
    cpSync(`${appDir}${file}`, `${copy}/${file}`, { recursive: true });
  }
  execFileSync('git', ['apply', `${appDir}retrofit.patch`], { cwd: copy });
  [db, redis] = await Promise.all([createDatabase('retrofit'), startRedis()]);
  instances = await startInstances(copy, 3, {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    SESSION_SECRET: 'retrofit-secret-retrofit-secret-0000',
    ARCHIVE_EVERY_MS: String(PERIOD_MS),
  });
  nginx = await behindNginx(instances);
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await nginx?.stop();
  stopInstances(instances ?? []);
  await Promise.all([db?.drop(), redis?.stop()]);
  rmSync(copy, { recursive: true, force: true });
});

describe('the legacy app, retrofitted, as three instances behind nginx', () => {
  it('changes no client file, and at most 40 lines of the server', () => {
    const stat = execFileSync('git', ['apply', '--numstat', `${appDir}retrofit.patch`], {
      encoding: 'utf8',
    });
    const files = stat
      .trim()
      .split('\n')
      .map((line) => {
        const [added, removed, path] = line.split('\t');
        // git names the file from the repository's root: the app's own name is what counts.
        return { file: basename(path ?? ''), added: Number(added), removed: Number(removed) };
      });
    expect(files.map((f) => f.file)).toEqual(['server.js']);
    expect(files[0]!.added).toBeLessThanOrEqual(40);
    expect(files[0]!.removed).toBeLessThanOrEqual(40);
  });

  it("shows an order made on any instance exactly once on its vendor's page, and nowhere else", async () => {
    const pastel = await openDashboard(browser, nginx.url, { id: 1, password: 'pastel' });
    const cana = await openDashboard(browser, nginx.url, { id: 2, password: 'cana' });
    const ids: string[] = [];
    // Round robin: consecutive orders land on the three instances in turn.
    for (let i = 0; i < 9; i++) ids.push(String(await placeOrder(nginx.url, 1, `pastel ${i}`)));
    await waitFor(
      'the nine orders on the dashboard',
      async () => (await shownOrders(pastel)).length >= 9,
      15_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // a late duplicate would show now
    const shown = await shownOrders(pastel);
    expect(shown.map((o) => o.id).sort()).toEqual([...ids].sort());
    expect(await shownOrders(cana)).toEqual([]);
  });

  it('runs the archive job once per period across the three instances', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const count = async () =>
        (await client.query('SELECT count(*)::int AS n FROM archive_runs')).rows[0].n as number;
      const start = await count();
      await waitFor('five more runs', async () => (await count()) >= start + 5, 8 * PERIOD_MS);
      const { rows } = await client.query<{ at: Date; instance: string }>(
        'SELECT at, instance FROM archive_runs ORDER BY at',
      );
      // Once per period: no two runs closer than the period (less a little for clocks).
      for (let i = 1; i < rows.length; i++) {
        const apart = rows[i]!.at.getTime() - rows[i - 1]!.at.getTime();
        expect(apart).toBeGreaterThanOrEqual(PERIOD_MS * 0.9);
      }
    } finally {
      await client.end();
    }
  });
});
