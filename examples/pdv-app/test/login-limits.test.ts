import { createDatabase, type TestDatabase } from '@bancada/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPdv, type StartOptions, startPdv } from './helpers/instances.js';

// What a login costs the instance, and how much of it one client or one account can have:
// password hashes at once, failures per address, logins per account, sessions per user.

const PASSWORD = 'demo-pdv';
let db: TestDatabase;
let sql: pg.Pool;
const running: RunningPdv[] = [];

beforeAll(async () => {
  db = await createDatabase('pdv_login');
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterEach(async () => {
  for (const pdv of running.splice(0)) await pdv.close();
});

afterAll(async () => {
  await sql?.end();
  await db?.drop();
});

async function start(options: StartOptions = {}): Promise<RunningPdv> {
  const pdv = await startPdv({ databaseUrl: db.url, ...options });
  running.push(pdv);
  return pdv;
}

async function login(pdv: RunningPdv, email: string, password = PASSWORD) {
  const response = await fetch(`${pdv.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await response.json()) as { error?: string };
  const sid = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0]!)
    .find((cookie) => cookie.startsWith('sid='));
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body, sid };
}

describe('the failed-login limit (per address)', () => {
  it('lets 12 valid logins in flight at once through: only failures count', async () => {
    const pdv = await start({ loginAttempts: 10 });
    const answers = await Promise.all(Array.from({ length: 12 }, () => login(pdv, 'ana@sol.demo')));
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
  });

  it('refuses an address after 10 failures, the right password too', async () => {
    const pdv = await start({ loginAttempts: 10 });
    for (let i = 0; i < 10; i++)
      expect((await login(pdv, 'ana@sol.demo', 'guess')).status).toBe(401);
    const refused = await login(pdv, 'ana@sol.demo');
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
  });
});

describe('password hashes', () => {
  it('turns logins away with 503 and Retry-After past the hash queue, and answers the others', async () => {
    const pdv = await start({
      maxConcurrentHashes: 1,
      maxQueuedHashes: 2,
      accountLoginAttempts: 1000,
    });
    const answers = await Promise.all(Array.from({ length: 40 }, () => login(pdv, 'ana@sol.demo')));
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const answer of busy) {
      expect(answer.retryAfter).toBe('2');
      expect(answer.body.error).toBe('busy');
    }
    expect(answers.filter((a) => a.status !== 503).map((a) => a.status)).toEqual(
      Array(40 - busy.length).fill(200),
    );
  });
});

describe('logins per account', () => {
  it('counts successful logins too, and refuses the account past its limit', async () => {
    const pdv = await start({ accountLoginAttempts: 3 });
    for (let i = 0; i < 3; i++) expect((await login(pdv, 'leo@lua.demo')).status).toBe(200);
    const refused = await login(pdv, 'leo@lua.demo');
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect((await login(pdv, 'ana@sol.demo')).status).toBe(200); // another account
  });
});

describe('sessions per user', () => {
  it('keeps the newest sessions of a user: a new login ends the oldest', async () => {
    const pdv = await start({ sessionsPerUser: 2 });
    const userId = (
      await sql.query<{ id: number }>("SELECT id FROM users WHERE email = 'ana@sol.demo'")
    ).rows[0]!.id;
    const count = async () =>
      Number(
        (
          await sql.query<{ n: string }>(
            "SELECT count(*) AS n FROM session WHERE (sess->'user'->>'id')::int = $1",
            [userId],
          )
        ).rows[0]!.n,
      );
    await sql.query("DELETE FROM session WHERE (sess->'user'->>'id')::int = $1", [userId]);
    const sids: string[] = [];
    for (let i = 0; i < 4; i++) sids.push((await login(pdv, 'ana@sol.demo')).sid!);
    const me = async (sid: string) =>
      (await fetch(`${pdv.url}/api/me`, { headers: { cookie: sid } })).status;
    expect(await Promise.all(sids.map(me))).toEqual([401, 401, 200, 200]);
    expect(await count()).toBe(2);
  });
});
