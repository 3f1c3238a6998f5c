import { createDatabase, faultProxy, type TestDatabase, waitFor } from '@bancada/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitRefusedError, inTransaction } from '../src/transaction.js';
import { commitStallProxy } from './helpers/commit-stall-proxy.js';
import { loginCookie, type RunningPdv, startPdv } from './helpers/instances.js';

// Postgres that answers late or not at all: what the app answers, and what it leaves behind
// in the database (a 503 must never turn into an order later).

const TIMEOUT_MS = 1000;
let db: TestDatabase;
let pdv: RunningPdv;
let cookie: string;
let menuItemId: number;

beforeAll(async () => {
  db = await createDatabase('pdv_slow');
  pdv = await startPdv({
    databaseUrl: db.url,
    instanceId: 'slow-1',
    databaseTimeoutMs: TIMEOUT_MS,
  });
  cookie = await loginCookie(pdv.url, 'ana@sol.demo', 'demo-pdv');
  const menu = await fetch(`${pdv.url}/api/menu`, { headers: { cookie } });
  menuItemId = ((await menu.json()) as { items: Array<{ id: number }> }).items[0]!.id;
});

afterAll(async () => {
  await pdv?.close();
  await db?.drop();
});

async function postOrder(note: string): Promise<number> {
  const response = await fetch(`${pdv.url}/api/orders`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ table: '7', items: [{ menuItemId, qty: 1 }], note }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** `work` on a connection of the test's own, ended afterwards. */
async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const idleInTransaction = () =>
  withClient(async (client) => {
    const result = await client.query<{ count: string }>(
      `SELECT count(*) FROM pg_stat_activity
       WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    return Number(result.rows[0]!.count);
  });

describe('orders while the orders table is locked', () => {
  it('never commits an order it answered 503, and leaves no connection idle in a transaction', async () => {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    let blocked: number[];
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE');
      // Held until every one of them is answered: each meets the lock for its whole timeout.
      blocked = await Promise.all(Array.from({ length: 6 }, (_, i) => postOrder(`blocked-${i}`)));
    } finally {
      await locker.query('COMMIT').catch(() => {});
      await locker.end();
    }
    expect(blocked).toEqual(Array(6).fill(503));
    // Then a normal service, ten at a time: every connection of the pool is used again.
    const normal: number[] = [];
    for (let batch = 0; batch < 4; batch++) {
      normal.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => postOrder(`normal-${batch * 10 + i}`)),
        )),
      );
    }
    expect(normal).toEqual(Array(40).fill(201));
    const phantoms = await withClient(async (client) => {
      const result = await client.query<{ note: string }>(
        "SELECT note FROM orders WHERE note LIKE 'blocked-%' ORDER BY note",
      );
      return result.rows.map((row) => row.note);
    });
    expect.soft(phantoms).toEqual([]);
    await waitFor(
      'no connection idle in a transaction',
      async () => (await idleInTransaction()) === 0,
      10_000,
    );
  }, 90_000);
});

describe('an order whose COMMIT gets no answer', () => {
  const notesLike = (prefix: string) =>
    withClient(async (client) => {
      const result = await client.query<{ id: string }>(
        'SELECT id FROM orders WHERE note LIKE $1',
        [`${prefix}%`],
      );
      return result.rows.map((row) => Number(row.id));
    });

  it('answers 503 "not saved" only once Postgres can no longer commit it, 201 once it did, and "outcome unknown" with its key when it cannot tell', async () => {
    const proxy = await commitStallProxy(db.url);
    const behind = await startPdv({
      databaseUrl: proxy.url(db.url),
      instanceId: 'slow-commit',
      databaseTimeoutMs: TIMEOUT_MS,
    });
    const own = await loginCookie(behind.url, 'ana@sol.demo', 'demo-pdv');
    const send = async (note: string, key: string) => {
      const response = await fetch(`${behind.url}/api/orders`, {
        method: 'POST',
        headers: { cookie: own, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ table: '3', items: [{ menuItemId, qty: 2 }], note }),
      });
      return {
        status: response.status,
        headers: response.headers,
        body: (await response.json()) as { id: number; error: string; message: string },
      };
    };
    try {
      // The COMMIT never reaches Postgres: not saved, and said so only once that is sure.
      const withheld = proxy.stallNextCommit('withhold');
      const lost = await send('withheld', 'key-withheld');
      await withheld;
      expect(lost.status).toBe(503);
      expect(lost.body.error).toBe('unavailable');
      expect(lost.body.message).toMatch(/not saved/);
      expect(await notesLike('withheld')).toEqual([]);
      const again = await send('withheld', 'key-withheld');
      expect(again.status).toBe(201);
      expect(await notesLike('withheld')).toEqual([again.body.id]);

      // Postgres commits, its answer is lost: the order is found and the answer is 201.
      const answerLost = proxy.stallNextCommit('lose-answer');
      const found = await send('answer-lost', 'key-answer-lost');
      await answerLost;
      expect(found.status).toBe(201);
      expect(await notesLike('answer-lost')).toEqual([found.body.id]);

      // Postgres commits, then nothing answers at all: the app cannot tell, and says so.
      const frozen = proxy.stallNextCommit('freeze');
      const unknown = await send('frozen', 'key-frozen');
      await frozen;
      expect(unknown.status).toBe(503);
      expect(unknown.body.error).toBe('order_outcome_unknown');
      expect(unknown.headers.get('idempotency-key')).toBe('key-frozen');
      proxy.restore();
      // The retry with its key returns the order that was saved, and does not double it.
      await waitFor('Postgres through the proxy again', async () => {
        const retry = await send('frozen', 'key-frozen');
        if (retry.status === 503) return false;
        expect(retry.status).toBe(200);
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        return true;
      });
      expect(await notesLike('frozen')).toHaveLength(1);
      await waitFor(
        'no connection idle in a transaction',
        async () => (await idleInTransaction()) === 0,
        10_000,
      );
    } finally {
      proxy.restore();
      await behind.close();
      await proxy.close();
    }
  }, 60_000);

  it('refuses an Idempotency-Key used for another order, and returns the same order for the same one', async () => {
    const send = (table: string) =>
      fetch(`${pdv.url}/api/orders`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', 'idempotency-key': 'key-twice' },
        body: JSON.stringify({ table, items: [{ menuItemId, qty: 1 }] }),
      });
    const first = await send('4');
    expect(first.status).toBe(201);
    const same = await send('4');
    expect(same.status).toBe(200);
    expect(((await same.json()) as { id: number }).id).toBe(
      ((await first.json()) as { id: number }).id,
    );
    const other = await send('5');
    expect(other.status).toBe(422);
    expect(((await other.json()) as { error: string }).error).toBe('idempotency_key_reused');
  });
});

describe('a login while Postgres does not answer', () => {
  it('answers 503 within the bound of every other route', async () => {
    const proxy = await faultProxy(db.url);
    const behind = await startPdv({ databaseUrl: proxy.url(db.url), instanceId: 'slow-login' });
    try {
      await loginCookie(behind.url, 'ana@sol.demo', 'demo-pdv'); // the pool has connections
      proxy.freeze();
      const started = Date.now();
      const response = await fetch(`${behind.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ana@sol.demo', password: 'demo-pdv' }),
      });
      const elapsed = Date.now() - started;
      expect(response.status).toBe(503);
      expect(elapsed).toBeLessThan(2000);
      proxy.restore();
    } finally {
      await behind.close();
      await proxy.close();
    }
  }, 60_000);
});

describe('a COMMIT that Postgres answers with an error', () => {
  it('is told apart from one with no answer: known not committed, and the pool goes on', async () => {
    await withClient((client) =>
      client.query(`CREATE TABLE commit_refused (
        id int PRIMARY KEY,
        parent int REFERENCES commit_refused (id) DEFERRABLE INITIALLY DEFERRED)`),
    );
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      // A deferred foreign key is checked at COMMIT, which Postgres then refuses.
      const refused = inTransaction(pool, (client) =>
        client.query('INSERT INTO commit_refused VALUES (1, 2)'),
      );
      await expect(refused).rejects.toBeInstanceOf(CommitRefusedError);
      await expect(refused).rejects.toThrow(/COMMIT refused: .*foreign key/);
      const rows = await pool.query('SELECT count(*)::int AS n FROM commit_refused');
      expect(rows.rows[0].n).toBe(0);
    } finally {
      await pool.end();
    }
  });
});
