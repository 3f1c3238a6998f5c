import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  afterThisTest,
  createDatabase,
  readmeCode,
  recordingLogger,
  runReadmeApp,
  waitFor,
} from '@bancada/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createSession, type SessionOptions } from '../src/index.js';
import { resolveSessionOptions } from '../src/options.js';
import { appWith } from './helpers/app.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const secret = 'a test secret of 32 characters or more';
const NOT_SENT = 'BANCADA_SESSION_COOKIE_NOT_SENT';

/** A database of the test's own, and a count of the sessions written to it. */
async function database() {
  const db = await createDatabase('session_cookie');
  afterThisTest(() => db.drop());
  const rows = async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM session');
      return rows[0].n as number;
    } finally {
      await client.end();
    }
  };
  return { url: db.url, rows };
}

/** The test app over plain HTTP on 127.0.0.1, with `trustProxy` as Express's `trust proxy`. */
async function plainHttpApp(options: SessionOptions, trustProxy?: number) {
  const sessions = createSession({ secret, ...options });
  afterThisTest(() => sessions.close());
  const app = appWith(sessions);
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy);
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  afterThisTest(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function loginAt(url: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ name: 'ana' }),
  });
}

describe('a secure session cookie on a request that is not HTTPS', () => {
  it('is not sent, and a warning says so once, naming what to set', async () => {
    const db = await database();
    const logger = recordingLogger();
    const url = await plainHttpApp(
      { connectionString: db.url, secure: true, logger },
      1, // trust proxy as the README sets it, but no X-Forwarded-Proto arrives
    );
    for (let i = 0; i < 3; i++) {
      const response = await loginAt(url);
      expect(response.status).toBe(200); // the login "works"...
      expect(response.headers.get('set-cookie')).toBeNull(); // ...and the browser gets nothing
    }
    expect(await db.rows()).toBe(3); // while a session row was written each time
    const warnings = logger.lines.filter((line) => line.includes(NOT_SENT));
    expect(warnings).toHaveLength(1);
    const [warning] = warnings;
    expect(warning).toMatch(/^warn session: /);
    expect(warning).toContain("app.set('trust proxy', 1)");
    expect(warning).toContain('X-Forwarded-Proto: https');
    expect(warning).toContain('secure: false');
    expect(warning).toContain('SESSION_COOKIE_SECURE=false');
  });

  it('says nothing when the cookie goes out, or when there was nothing to keep', async () => {
    const db = await database();
    const logger = recordingLogger();
    const behindProxy = await plainHttpApp({ connectionString: db.url, secure: true, logger }, 1);
    const https = { 'x-forwarded-proto': 'https' }; // what the balancer sends
    const response = await loginAt(behindProxy, https);
    expect(response.headers.get('set-cookie')).toMatch(/^sid=.*; Secure/);
    const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
    // A logged-in request over plain HTTP that changes nothing: the browser has its cookie.
    expect((await fetch(`${behindProxy}/me`, { headers: { cookie } })).status).toBe(200);
    // A visitor without a session: no session to keep, no cookie due.
    expect((await fetch(`${behindProxy}/me`)).status).toBe(200);

    const development = await plainHttpApp({ connectionString: db.url, secure: false, logger });
    expect((await loginAt(development)).headers.get('set-cookie')).toMatch(/^sid=/);
    expect(logger.lines.filter((line) => line.includes(NOT_SENT))).toEqual([]);
  });

  it("the session README's example as it is, with NODE_ENV=production over plain HTTP: says why no cookie comes", async () => {
    const db = await database();
    const code = readmeCode(`${PACKAGE}README.md`, '## Example');
    const sources = { '@bancada/session': `${PACKAGE}src/index.ts` };
    const env = { NODE_ENV: 'production', SESSION_SECRET: secret, DATABASE_URL: db.url };
    const app = await runReadmeApp(PACKAGE, code, { sources, env });
    for (let i = 0; i < 2; i++) {
      const response = await loginAt(app.url);
      expect(response.status).toBe(200);
      expect(response.headers.get('set-cookie')).toBeNull();
    }
    const output = () => app.process.stdout + app.process.stderr;
    await waitFor('the warning', () => output().includes(NOT_SENT));
    await loginAt(app.url); // and another login after it
    expect(output().split(NOT_SENT)).toHaveLength(2); // once
    expect(output()).toContain("app.set('trust proxy', 1)");

    // What the warning says to do, for plain HTTP on purpose: the cookie arrives.
    const plain = await runReadmeApp(PACKAGE, code, {
      sources,
      env: { ...env, SESSION_COOKIE_SECURE: 'false' },
    });
    expect((await loginAt(plain.url)).headers.get('set-cookie')).toMatch(/^sid=/);
    expect(plain.process.stdout + plain.process.stderr).not.toContain(NOT_SENT);
  });
});

describe('SESSION_COOKIE_SECURE', () => {
  it('decides secure when the option is not given, and is refused when it is not true or false', () => {
    const production = { NODE_ENV: 'production' };
    const secureWith = (env: NodeJS.ProcessEnv, options: SessionOptions = {}) =>
      resolveSessionOptions({ secret, logger: false, ...options }, env).secure;
    expect(secureWith(production)).toBe(true);
    expect(secureWith({ ...production, SESSION_COOKIE_SECURE: 'false' })).toBe(false);
    expect(secureWith({ SESSION_COOKIE_SECURE: 'true' })).toBe(true);
    expect(secureWith({ SESSION_COOKIE_SECURE: '' })).toBe(false);
    expect(secureWith({ SESSION_COOKIE_SECURE: 'true' }, { secure: false })).toBe(false); // explicit wins
    expect(() => secureWith({ SESSION_COOKIE_SECURE: 'yes' })).toThrow(
      /SESSION_COOKIE_SECURE must be true or false, got "yes"/,
    );
    expect(() => secureWith({ SESSION_COOKIE_SECURE: 'yes' })).toThrow(TypeError);
  });
});
