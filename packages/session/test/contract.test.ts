import { createDatabase } from '@bancada/testkit';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/embedded-postgres.js';
import {
  createSession,
  type SessionMiddleware,
  type SessionOptions,
  sessionAuthenticator,
} from '../src/index.js';
import { appWith, sessionCookie } from './helpers/app.js';

// The same behaviours against a real Postgres database and against the embedded one
// (PGlite behind its socket), since both go through pg and connect-pg-simple alike.
const backends: Array<[string, () => Promise<{ url: string; close(): Promise<void> }>]> = [
  [
    'postgres',
    async () => {
      const db = await createDatabase('session');
      return { url: db.url, close: () => db.drop() };
    },
  ],
  [
    'embedded postgres',
    async () => {
      const embedded = await startEmbeddedPostgres('memory://');
      return { url: embedded.connectionString, close: () => embedded.close() };
    },
  ],
];

describe.each(backends)('sessions on %s', (_name, backend) => {
  let database: { url: string; close(): Promise<void> };
  let sql: pg.Pool;
  const opened: SessionMiddleware[] = [];

  beforeAll(async () => {
    database = await backend();
    sql = new pg.Pool({ connectionString: database.url, max: 1 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await sql.end();
    await database.close();
  });

  /** One app instance; every instance of a test shares the database and the secret. */
  function instance(options: SessionOptions = {}) {
    const sessions = createSession({
      connectionString: database.url,
      secret: 'a-test-secret-that-is-long-enough-1234',
      logger: false,
      ...options,
    });
    opened.push(sessions);
    return { app: appWith(sessions), sessions };
  }

  async function loggedIn(app: ReturnType<typeof instance>['app'], name = 'ana') {
    const response = await request(app).post('/login').send({ name }).expect(200);
    return sessionCookie(response);
  }

  it('recognises a login made on another instance', async () => {
    const one = instance();
    const two = instance();
    const cookie = await loggedIn(one.app);
    const me = await request(two.app).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body.user).toEqual({ name: 'ana' });
  });

  it('keeps the session across a restart of the app', async () => {
    const before = instance();
    const cookie = await loggedIn(before.app, 'bia');
    await before.sessions.close();
    const after = instance();
    const me = await request(after.app).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body.user).toEqual({ name: 'bia' });
  });

  it('ends the session on every instance at logout, and clears the cookie', async () => {
    const one = instance();
    const two = instance();
    const cookie = await loggedIn(one.app);
    const out = await request(two.app).post('/logout').set('Cookie', cookie).expect(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^sid=;.*Expires=Thu, 01 Jan 1970/);
    const me = await request(one.app).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body.user).toBeNull();
  });

  it('gives a new session id at login (no fixation)', async () => {
    const { app } = instance();
    const before = await request(app).post('/cart').expect(200);
    const planted = sessionCookie(before);
    const login = await request(app)
      .post('/login')
      .set('Cookie', planted)
      .send({ name: 'ana' })
      .expect(200);
    expect(sessionCookie(login)).not.toBe(planted);
    const old = await request(app).get('/me').set('Cookie', planted).expect(200);
    expect(old.body.user).toBeNull();
  });

  it('treats tampered, unsigned and unknown cookies as anonymous, never as an error', async () => {
    const { app } = instance();
    const cookie = await loggedIn(app);
    const value = decodeURIComponent(cookie.slice('sid='.length));
    const sid = value.slice(2, value.lastIndexOf('.'));
    const forged = [
      `sid=${encodeURIComponent(`${value.slice(0, -3)}abc`)}`, // signature changed
      `sid=${encodeURIComponent(sid)}`, // unsigned
      `sid=${encodeURIComponent(`s:${sid}x.${value.slice(value.lastIndexOf('.') + 1)}`)}`, // id changed
      'sid=garbage%%%',
    ];
    for (const bad of forged) {
      const me = await request(app).get('/me').set('Cookie', bad).expect(200);
      expect(me.body.user, bad).toBeNull();
    }
  });

  it('treats an expired session as anonymous', async () => {
    const { app } = instance({ maxAge: 1000 });
    const cookie = await loggedIn(app);
    // Idle past its expiry (any request would count as activity and extend it). Stored
    // expiries have whole-second precision, so a 1 s session is gone within 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const me = await request(app).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body.user).toBeNull();
  });

  it('accepts cookies signed with an old secret after a new one is put first', async () => {
    const old = instance({ secret: 'old-secret-old-secret-old-secret-00' });
    const cookie = await loggedIn(old.app, 'caio');
    const rotated = instance({
      secret: ['new-secret-new-secret-new-secret-11', 'old-secret-old-secret-old-secret-00'],
    });
    const me = await request(rotated.app).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body.user).toEqual({ name: 'caio' });
  });

  it('writes at most 10 times for 1,000 requests that change nothing', async () => {
    const { app } = instance();
    const cookie = await loggedIn(app);
    await sql.query('CREATE TABLE IF NOT EXISTS session_writes (n int)');
    await sql.query(`CREATE OR REPLACE FUNCTION count_session_write() RETURNS trigger AS $$
      BEGIN INSERT INTO session_writes VALUES (1); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await sql.query(`DROP TRIGGER IF EXISTS count_writes ON "session";
      CREATE TRIGGER count_writes AFTER INSERT OR UPDATE ON "session" FOR EACH ROW EXECUTE FUNCTION count_session_write()`);
    await sql.query('DELETE FROM session_writes');
    for (let i = 0; i < 1000; i++) await request(app).get('/me').set('Cookie', cookie).expect(200);
    const { rows } = await sql.query('SELECT count(*)::int AS n FROM session_writes');
    expect(rows[0].n).toBeLessThanOrEqual(10);
    // A change still writes at once.
    await request(app).post('/cart').set('Cookie', cookie).expect(200);
    const after = await sql.query('SELECT count(*)::int AS n FROM session_writes');
    expect(after.rows[0].n).toBe(rows[0].n + 1);
    await sql.query('DROP TRIGGER count_writes ON "session"');
  }, 60_000);

  it('refreshes the stored expiry once the session nears its end', async () => {
    const { app } = instance({ maxAge: 4000, refreshWhenRemaining: 0.75 });
    const cookie = await loggedIn(app, 'refresh-me');
    const expiry = async () =>
      new Date(
        (await sql.query(`SELECT expire FROM "session" WHERE sess::text LIKE '%refresh-me%'`))
          .rows[0].expire,
      ).getTime();
    const first = await expiry();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // under 75% of 4 s left
    await request(app).get('/me').set('Cookie', cookie).expect(200);
    expect(await expiry()).toBeGreaterThan(first);
  });

  it('prunes expired sessions', async () => {
    const { app } = instance({ maxAge: 1000, pruneIntervalSeconds: 0.2 });
    await loggedIn(app, 'short-lived');
    const count = async () =>
      (
        await sql.query(
          `SELECT count(*)::int AS n FROM "session" WHERE sess::text LIKE '%short-lived%'`,
        )
      ).rows[0].n;
    expect(await count()).toBe(1);
    const deadline = Date.now() + 10_000;
    while ((await count()) > 0 && Date.now() < deadline) {
      await request(app).get('/me'); // pruning starts with the store's first query
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await count()).toBe(0);
  });

  it('keeps the newest sessions of a user: a login past maxSessionsPerUser ends the oldest', async () => {
    const { app } = instance({
      tableName: 'capped_sessions',
      maxSessionsPerUser: 2,
      userId: (user) => (user as { name: string }).name,
    });
    const cookies: string[] = [];
    for (let i = 0; i < 4; i++) cookies.push(await loggedIn(app, 'ana'));
    cookies.push(await loggedIn(app, 'bob'));
    const users = [];
    for (const cookie of cookies) {
      users.push((await request(app).get('/me').set('Cookie', cookie)).body.user);
    }
    expect(users).toEqual([null, null, { name: 'ana' }, { name: 'ana' }, { name: 'bob' }]);
    const rows = await sql.query<{ n: string }>('SELECT count(*) AS n FROM capped_sessions');
    expect(Number(rows.rows[0]!.n)).toBe(3);
  });

  it('keeps two session tables apart in one database', async () => {
    const one = instance({ tableName: 'pdv_sessions' });
    const two = instance({ tableName: 'admin_sessions' });
    const cookie = await loggedIn(one.app, 'ivo');
    expect((await request(one.app).get('/me').set('Cookie', cookie)).body.user).toEqual({
      name: 'ivo',
    });
    expect((await request(two.app).get('/me').set('Cookie', cookie)).body.user).toBeNull();
    await loggedIn(two.app, 'jo');
    const tables = await sql.query(
      `SELECT tablename FROM pg_tables WHERE tablename IN ('pdv_sessions', 'admin_sessions') ORDER BY 1`,
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual(['admin_sessions', 'pdv_sessions']);
  });

  it('authenticates a raw upgrade request from its cookie, and refuses a missing or forged one', async () => {
    const { app, sessions } = instance();
    const cookie = await loggedIn(app, 'dora');
    const authenticate = sessionAuthenticator(sessions);
    const upgrade = (headers: Record<string, string>) =>
      ({
        headers: { upgrade: 'websocket', ...headers },
        url: '/ws',
        method: 'GET',
        socket: {},
      }) as never;
    expect(await authenticate(upgrade({ cookie }))).toEqual({ name: 'dora' });
    expect(await authenticate(upgrade({}))).toBeNull();
    expect(await authenticate(upgrade({ cookie: `${cookie.slice(0, -2)}xx` }))).toBeNull();
    const byId = sessionAuthenticator(sessions, (s) =>
      (s.user as { name: string }).name.toUpperCase(),
    );
    expect(await byId(upgrade({ cookie }))).toBe('DORA');
  });

  it('reads the same request again as the store has it now: null once the session is gone', async () => {
    const { app, sessions } = instance();
    const cookie = await loggedIn(app, 'eva');
    const authenticate = sessionAuthenticator(sessions);
    // One request object, kept by a long-lived connection and asked again later.
    const upgrade = { headers: { cookie }, url: '/ws', method: 'GET', socket: {} } as never;
    expect(await authenticate(upgrade)).toEqual({ name: 'eva' });
    await request(app).post('/logout').set('Cookie', cookie).expect(204);
    const rows = async () =>
      (await sql.query('SELECT count(*)::int AS n FROM "session"')).rows[0].n as number;
    const before = await rows();
    expect(await authenticate(upgrade)).toBeNull();
    expect(await rows()).toBe(before); // the empty stand-in for the ended session is not saved
  });

  it('answers the first read of an Express request with the session it has, and never replaces it', async () => {
    const { sessions } = instance();
    const app = appWith(sessions);
    app.get('/read-twice', async (req, res) => {
      const loaded = req.session;
      const first = await sessions.readSession(req);
      const again = await sessions.readSession(req); // read from the store this time
      res.json({
        firstIsLoaded: first === loaded,
        againUser: (again as { user?: unknown } | undefined)?.user ?? null,
        liveUntouched: req.session === loaded,
      });
    });
    const cookie = await loggedIn(app, 'fia');
    const { body } = await request(app).get('/read-twice').set('Cookie', cookie).expect(200);
    expect(body).toEqual({ firstIsLoaded: true, againUser: { name: 'fia' }, liveUntouched: true });
  });
});
