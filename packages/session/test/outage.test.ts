import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, faultProxy, recordingLogger, waitFor } from '@bancada/testkit';
import pg from 'pg';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSession,
  type SessionMiddleware,
  sessionAuthenticator,
  startEmbeddedPostgres,
} from '../src/index.js';
import { appWith, sessionCookie } from './helpers/app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(sessions: SessionMiddleware): SessionMiddleware {
  cleanups.push(() => sessions.close());
  return sessions;
}

describe('when Postgres goes away', () => {
  it('answers 503 with Retry-After within 2 s, then works again with the session intact', async () => {
    const db = await createDatabase('session_outage');
    cleanups.push(() => db.drop());
    const proxy = await faultProxy(db.url);
    cleanups.push(() => proxy.close());
    const registry = new Registry();
    const sessions = track(
      createSession({
        connectionString: proxy.url(db.url),
        secret: 'outage-secret-outage-secret-0000',
        logger: false,
        registry,
      }),
    );
    const app = appWith(sessions);
    // The first store call creates the table: on a busy machine it can take longer than the
    // store's 1 s bound, and that login is then (rightly) a 503. Log in once it is there.
    let login = await request(app).post('/login').send({ name: 'eva' });
    await waitFor('a first login', async () => {
      if (login.status !== 200) login = await request(app).post('/login').send({ name: 'eva' });
      return login.status === 200;
    });
    const cookie = sessionCookie(login);

    for (const cut of [() => proxy.cut(), () => proxy.freeze()]) {
      cut();
      const started = Date.now();
      const down = await request(app).get('/me').set('Cookie', cookie);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(down.status).toBe(503);
      expect(down.headers['retry-after']).toBe('2');
      expect(down.body).toMatchObject({ error: 'session-store-unavailable' });
      expect(down.text).not.toMatch(/at .*\.js/); // no stack trace
      expect(sessions.health()).toEqual({ mode: 'postgres', degraded: true });
      expect(await registry.metrics()).toContain('bancada_session_degraded 1');
      proxy.restore();
      const back = await request(app).get('/me').set('Cookie', cookie).expect(200);
      expect(back.body.user).toEqual({ name: 'eva' });
      expect(sessions.health().degraded).toBe(false);
    }
    expect(await registry.metrics()).toMatch(
      /bancada_session_store_errors_total\{op="get"\} [1-9]/,
    );
  });

  it('makes the authenticator reject (a 503 for the hub, not a 401) while the database is away', async () => {
    const db = await createDatabase('session_auth_outage');
    cleanups.push(() => db.drop());
    const proxy = await faultProxy(db.url);
    cleanups.push(() => proxy.close());
    const sessions = track(
      createSession({
        connectionString: proxy.url(db.url),
        secret: 'auth-outage-secret-auth-outage-0',
        logger: false,
      }),
    );
    const cookie = sessionCookie(
      await request(appWith(sessions)).post('/login').send({ name: 'hal' }).expect(200),
    );
    const authenticate = sessionAuthenticator(sessions);
    const upgrade = { headers: { cookie }, url: '/ws', method: 'GET', socket: {} } as never;
    proxy.cut();
    await expect(authenticate(upgrade)).rejects.toThrow();
    proxy.restore();
    expect(await authenticate(upgrade)).toEqual({ name: 'hal' });
  });
});

describe('when Postgres is slow', () => {
  it('stops a store write on the server when it gives up on it: a login that failed leaves no session behind', async () => {
    const db = await createDatabase('session_slow');
    cleanups.push(() => db.drop());
    const sessions = track(
      createSession({
        connectionString: db.url,
        secret: 'slow-secret-slow-secret-slow-000',
        logger: false,
        timeoutMs: 300,
      }),
    );
    const app = appWith(sessions);
    await request(app).post('/login').send({ name: 'ivo' }).expect(200);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    cleanups.push(() => sql.end());
    const count = async () =>
      Number((await sql.query<{ n: string }>('SELECT count(*) AS n FROM session')).rows[0]!.n);
    const waitingOnLock = async () =>
      Number(
        (
          await sql.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows[0]!.n,
      );
    expect(await count()).toBe(1);

    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE session IN SHARE ROW EXCLUSIVE MODE'); // reads go on
    const failed = await request(app).post('/login').send({ name: 'jon' });
    expect(failed.status).not.toBe(200);
    // Still locked: the server must have stopped the write itself, not left it waiting.
    await waitFor('no store write waiting on the lock', async () => (await waitingOnLock()) === 0);
    await locker.query('COMMIT');
    await request(app).post('/login').send({ name: 'kim' }).expect(200);
    expect(await count()).toBe(2); // ivo and kim; jon's failed login was never saved
  });
});

describe('the embedded default', () => {
  it('keeps sessions in a data folder across a restart of the app, and says which mode it runs in', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'bancada-session-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      const logger = recordingLogger();
      const first = createSession({
        dataDir,
        secret: 'embedded-secret-embedded-secret-00',
        logger,
      });
      expect(first.mode).toBe('embedded');
      const cookie = sessionCookie(
        await request(appWith(first)).post('/login').send({ name: 'fia' }).expect(200),
      );
      expect(logger.lines).toContain(
        `info session: embedded postgres at ${dataDir} (single instance only)`,
      );
      await first.close();

      const second = track(
        createSession({ dataDir, secret: 'embedded-secret-embedded-secret-00', logger: false }),
      );
      const me = await request(appWith(second)).get('/me').set('Cookie', cookie).expect(200);
      expect(me.body.user).toEqual({ name: 'fia' });
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  }, 60_000);

  it('says postgres (shared) when given a database', async () => {
    const db = await createDatabase('session_mode');
    cleanups.push(() => db.drop());
    const logger = recordingLogger();
    const sessions = track(
      createSession({
        connectionString: db.url,
        secret: 'mode-secret-mode-secret-mode-00',
        logger,
      }),
    );
    await sessions.ready;
    expect(sessions.mode).toBe('postgres');
    expect(logger.lines).toContain('info session: postgres (shared)');
  });

  it('still says single instance when given the connection string of an embedded postgres', async () => {
    const embedded = await startEmbeddedPostgres('memory://');
    cleanups.push(() => embedded.close());
    const logger = recordingLogger();
    const sessions = track(
      createSession({
        connectionString: embedded.connectionString,
        secret: 'mode-secret-mode-secret-mode-00',
        logger,
      }),
    );
    await sessions.ready;
    expect(sessions.mode).toBe('embedded');
    expect(logger.lines).toContain(
      'info session: embedded postgres at memory:// (single instance only)',
    );
  });
});

describe('secrets and cookie defaults', () => {
  it('refuses to start in production without a secret', () => {
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() =>
        createSession({ connectionString: 'postgres://x@127.0.0.1:1/x', logger: false }),
      ).toThrow(/secret is required/);
    } finally {
      process.env.NODE_ENV = saved;
    }
  });

  it('warns and uses a random secret in development', async () => {
    const logger = recordingLogger();
    const db = await createDatabase('session_dev');
    cleanups.push(() => db.drop());
    track(createSession({ connectionString: db.url, logger }));
    expect(logger.lines.join('\n')).toContain('BANCADA_SESSION_RANDOM_SECRET');
  });

  it('sets an httpOnly, SameSite=Lax cookie that does not name the stack', async () => {
    const db = await createDatabase('session_cookie');
    cleanups.push(() => db.drop());
    const sessions = track(
      createSession({
        connectionString: db.url,
        secret: 'cookie-secret-cookie-secret-000',
        logger: false,
      }),
    );
    const response = await request(appWith(sessions))
      .post('/login')
      .send({ name: 'gil' })
      .expect(200);
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(/^sid=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/connect\.sid/);
  });

  it.each([
    [{ maxAge: 10 }, /maxAge/],
    [{ refreshWhenRemaining: 0 }, /refreshWhenRemaining/],
    [{ pruneIntervalSeconds: 0 }, /pruneIntervalSeconds/],
    [{ tableName: 'session; drop table x' }, /tableName/],
    [{ sameSite: 'none' as const }, /secure/],
    [{ secret: [''] }, /secret/],
    [{ timeoutMs: 1 }, /timeoutMs/],
    [{ maxSessionsPerUser: 0 }, /maxSessionsPerUser/],
    [{ userId: 'id' as never }, /userId/],
  ])('rejects %o with a clear TypeError', (options, message) => {
    const attempt = () =>
      createSession({
        connectionString: 'postgres://x@127.0.0.1:1/x',
        secret: 's'.repeat(32),
        logger: false,
        ...options,
      });
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(TypeError);
  });
});
