// Session stores side by side in one process and run: express-session's MemoryStore,
// @bancada/session on Postgres, connect-pg-simple used directly, and connect-redis.
//   npm run bench -- session     (DATABASE_URL / REDIS_URL, defaults on 127.0.0.1)
//   npm run bench -- session --quick
import { Agent, createServer, request } from 'node:http';
import { createSession, login } from '@bancada/session';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createClient } from 'redis';
import { fmt, median, percentile } from '../lib/measure.mjs';

const SECRET = 'bench-secret-bench-secret-bench-00';
const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of the bench's own on the server, dropped at the end. */
async function createDatabase() {
  const name = `bench_session_${process.pid}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: SERVER_URL });
      await client.connect();
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.end();
    },
  };
}

function app(middleware, loginWith) {
  const created = express();
  created.use(middleware);
  created.post('/login', async (req, res) => {
    await loginWith(req);
    res.json({ ok: true });
  });
  created.get('/read', (req, res) => res.json({ user: req.session.user ?? null }));
  created.post('/write', (req, res) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.json({ count: req.session.count });
  });
  created.use((error, _req, res, _next) => {
    console.error(`bench app error: ${error.stack ?? error}`);
    res.status(500).end();
  });
  return created;
}

async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
let failures = 0;
function call(port, method, path, cookie) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: cookie ? { cookie } : {} },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode >= 300) failures++;
          resolve(res.headers['set-cookie']?.[0]?.split(';')[0]);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function load(port, method, path, cookies, { requests, concurrency }) {
  const times = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        const t = process.hrtime.bigint();
        await call(port, method, path, cookies[i % cookies.length]);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  times.sort((a, b) => a - b);
  return { rps: requests / seconds, p50: percentile(times, 50), p99: percentile(times, 99) };
}

export async function run(args) {
  const quick = args.includes('--quick');
  const sizes = quick ? { requests: 2_000, rounds: 2 } : { requests: 10_000, rounds: 3 };
  const db = await createDatabase();
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const redis = new Redis(redisUrl);
  // connect-redis 9 speaks node-redis's API (set with an options object, scanIterator).
  const nodeRedis = await createClient({ url: redisUrl }).connect();
  const redisPrefix = `bench:session:${process.pid}:`;
  const PgStore = connectPgSimple(session);
  const rawPool = new pg.Pool({ connectionString: db.url });
  const cookie = { httpOnly: true, sameSite: 'lax', maxAge: 86_400_000 };
  const plainLogin = (req) =>
    new Promise((resolve) =>
      req.session.regenerate(() => {
        req.session.user = { id: 1 };
        req.session.save(resolve);
      }),
    );

  const ours = createSession({
    connectionString: db.url,
    secret: SECRET,
    logger: false,
    tableName: 'bancada_session',
  });
  await ours.ready;
  const contenders = [
    {
      name: 'express-session MemoryStore',
      handler: app(
        session({ secret: SECRET, resave: false, saveUninitialized: false, cookie }),
        plainLogin,
      ),
    },
    {
      name: '@bancada/session (Postgres)',
      handler: app(ours, (req) => login(req, { id: 1 })),
      table: 'bancada_session',
    },
    {
      name: 'connect-pg-simple (Postgres)',
      handler: app(
        session({
          store: new PgStore({
            pool: rawPool,
            tableName: 'plain_session',
            createTableIfMissing: true,
          }),
          secret: SECRET,
          resave: false,
          saveUninitialized: false,
          cookie,
        }),
        plainLogin,
      ),
      table: 'plain_session',
    },
    {
      name: 'connect-redis (Redis)',
      handler: app(
        session({
          store: new RedisStore({ client: nodeRedis, prefix: redisPrefix }),
          secret: SECRET,
          resave: false,
          saveUninitialized: false,
          cookie,
        }),
        plainLogin,
      ),
      redis: true,
    },
  ];
  for (const c of contenders) {
    c.server = await listen(c.handler);
    c.port = c.server.address().port;
    c.cookies = [];
    for (let i = 0; i < 100; i++)
      c.cookies.push(
        await call(c.port, 'POST', '/login').catch((e) => {
          throw new Error(`${c.name} login: ${e.message}`);
        }),
      );
    c.read = [];
    c.write = [];
  }

  // Writes per 1,000 requests that change nothing.
  const sql = new pg.Pool({ connectionString: db.url, max: 1 });
  await sql.query('CREATE TABLE writes (tbl text)');
  await sql.query(
    `CREATE FUNCTION count_write() RETURNS trigger AS $$ BEGIN INSERT INTO writes VALUES (TG_TABLE_NAME); RETURN NEW; END $$ LANGUAGE plpgsql`,
  );
  for (const c of contenders.filter((c) => c.table)) {
    await sql.query(
      `CREATE TRIGGER count_writes AFTER INSERT OR UPDATE ON "${c.table}" FOR EACH ROW EXECUTE FUNCTION count_write()`,
    );
  }
  const redisWrites = async () => {
    const info = await redis.info('commandstats');
    return ['set', 'expire', 'pexpire'].reduce(
      (sum, cmd) => sum + Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0),
      0,
    );
  };
  for (const c of contenders) {
    const before = c.redis ? await redisWrites() : 0;
    await sql.query('DELETE FROM writes');
    await load(c.port, 'GET', '/read', c.cookies, { requests: 1000, concurrency: 1 });
    c.writesPer1000 = c.table
      ? (await sql.query('SELECT count(*)::int AS n FROM writes')).rows[0].n
      : c.redis
        ? (await redisWrites()) - before
        : 0;
  }

  for (let round = 0; round < sizes.rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order)
      c.read.push(
        await load(c.port, 'GET', '/read', c.cookies, {
          requests: sizes.requests,
          concurrency: 20,
        }),
      );
    for (const c of order)
      c.write.push(
        await load(c.port, 'POST', '/write', c.cookies, {
          requests: sizes.requests / 2,
          concurrency: 20,
        }),
      );
  }

  const pick = (runs, key) => median(runs.map((r) => r[key]));
  const lines = [
    `Session benchmark, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, 20 concurrent keep-alive clients, 100 sessions${quick ? ' (quick run)' : ''}`,
    '',
    '| store | read req/s | read p99 ms | write req/s | write p99 ms | writes per 1,000 unchanged requests |',
    '|---|---:|---:|---:|---:|---:|',
    ...contenders.map(
      (c) =>
        `| ${c.name} | ${fmt(pick(c.read, 'rps'))} | ${fmt(pick(c.read, 'p99'))} | ${fmt(pick(c.write, 'rps'))} | ${fmt(pick(c.write, 'p99'))} | ${c.writesPer1000} |`,
    ),
  ];
  if (failures > 0)
    lines.push('', `WARNING: ${failures} responses were not 2xx: the figures above are not valid.`);
  console.log(lines.join('\n'));

  for (const c of contenders) {
    c.server.closeAllConnections();
    await new Promise((resolve) => c.server.close(resolve));
  }
  agent.destroy();
  await ours.close();
  await rawPool.end();
  await sql.end();
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  await nodeRedis.quit();
  await db.drop();
}
