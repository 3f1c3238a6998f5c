import { fileURLToPath } from 'node:url';
import { createDatabase, type TestDatabase, waitFor } from '@bancada/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, startInstances, stopInstances } from './helpers/cluster.js';
import { openDashboard, placeOrder, shownOrders } from './helpers/dashboard.js';

// The app as it was written, before any retrofit: one instance is all it can be.
const appDir = fileURLToPath(new URL('..', import.meta.url));

let browser: Browser;
let db: TestDatabase;
let instances: Instance[];
let url: string;

beforeAll(async () => {
  db = await createDatabase('legacy');
  instances = await startInstances(appDir, 1, { DATABASE_URL: db.url, ARCHIVE_EVERY_MS: '1000' });
  url = `http://127.0.0.1:${instances[0]!.port}`;
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  stopInstances(instances ?? []);
  await db?.drop();
});

describe('the legacy app, as one instance', () => {
  it("shows each new order on its vendor's dashboard, and on no other vendor's", async () => {
    const pastel = await openDashboard(browser, url, { id: 1, password: 'pastel' });
    const cana = await openDashboard(browser, url, { id: 2, password: 'cana' });
    const id = await placeOrder(url, 1, 'pastel de queijo');
    await waitFor('the order on its dashboard', async () =>
      (await shownOrders(pastel)).some((o) => o.id === String(id)),
    );
    expect((await shownOrders(pastel)).filter((o) => o.id === String(id))).toHaveLength(1);
    expect(await shownOrders(cana)).toEqual([]);
  });

  it('runs its archive job on every tick', async () => {
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: db.url });
    await client.connect();
    try {
      await waitFor(
        'two runs',
        async () =>
          (await client.query('SELECT count(*)::int AS n FROM archive_runs')).rows[0].n >= 2,
        10_000,
      );
    } finally {
      await client.end();
    }
  });
});
