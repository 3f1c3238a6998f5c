// The Redis and the Postgres database the instances share: the ones given, the local ones,
// or private ones started (Redis) or created (a database) for the run.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { aptInstall, ClusterSetupError, findCommand } from './packages.mjs';
import { freePort, printLine, running, sleep, startChild, stopChild } from './processes.mjs';

// ---- Redis ---------------------------------------------------------------------------------------

/** @param {string} url */
export async function redisAnswers(url) {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * A redis-server of our own on a free port of 127.0.0.1, keeping nothing on disk, in a
 * temporary folder removed by `stop()`. Installed with apt-get first when `install` is true.
 * @param {{ install?: boolean, log?: (name: string, line: string) => void }} [options]
 */
export async function startPrivateRedis({ install = false, log = printLine } = {}) {
  let bin = findCommand('redis-server');
  if (bin === undefined && install) {
    aptInstall('redis-server');
    bin = findCommand('redis-server');
  }
  if (bin === undefined) {
    throw new ClusterSetupError('redis-server is not installed: apt-get install redis-server');
  }
  const dir = await mkdtemp(join(tmpdir(), 'pdv-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--loglevel', 'warning');
  const proc = startChild('redis', bin, [...args, '--dir', dir], { log });
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url))) {
    if (Date.now() > deadline || running.has(proc.child) === false) {
      await stopChild(proc, 'SIGKILL', 1000);
      await rm(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on ${url}:\n${proc.tail.join('\n')}`);
    }
    await sleep(50);
  }
  return {
    url,
    pid: proc.child.pid,
    async stop() {
      await stopChild(proc, 'SIGTERM', 5000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * REDIS_URL when set (it must answer), else the local redis://127.0.0.1:6379 if it answers,
 * else a private redis-server (see startPrivateRedis) that `stop()` shuts down.
 * @param {{ url?: string, install?: boolean, log?: (name: string, line: string) => void }} [options]
 */
export async function ensureRedis({ url, install = false, log = printLine } = {}) {
  if (url) {
    if (!(await redisAnswers(url))) {
      throw new ClusterSetupError(`Redis does not answer at REDIS_URL=${url}`);
    }
    return { url, private: false, stop: async () => {} };
  }
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) return { url: local, private: false, stop: async () => {} };
  log('cluster', `no Redis answers at ${local}; starting a redis-server of our own`);
  return { ...(await startPrivateRedis({ install, log })), private: true };
}

// ---- Postgres ------------------------------------------------------------------------------------

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const POSTGRES_HELP =
  'Start one (Debian/Ubuntu: sudo apt-get install postgresql && sudo pg_ctlcluster 15 main start, ' +
  'with "host all all 127.0.0.1/32 trust" in pg_hba.conf; or docker run -d -p 5432:5432 ' +
  '-e POSTGRES_HOST_AUTH_METHOD=trust postgres:16), or set DATABASE_URL.';

/**
 * Runs `work` with a client of the server at `url`; a ClusterSetupError if it does not answer.
 * @template T
 * @param {string} url
 * @param {(client: pg.Client) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withPostgres(url, work) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new ClusterSetupError(
      `Postgres does not answer at ${url} (${error.message}). ${POSTGRES_HELP}`,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** @param {string} serverUrl @param {string} name */
function databaseUrl(serverUrl, name) {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * DATABASE_URL when set (it must answer), else the database `name` on the local
 * postgres://postgres@127.0.0.1:5432, created if missing.
 * @param {{ url?: string, name?: string }} [options]
 */
export async function ensureDatabase({ url, name = 'pdv_cluster' } = {}) {
  if (url) {
    await withPostgres(url, async () => {});
    return { url };
  }
  await withPostgres(LOCAL_POSTGRES, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  });
  return { url: databaseUrl(LOCAL_POSTGRES, name) };
}

/**
 * A fresh database of our own on the server at `serverUrl` (default: DATABASE_URL's server, else
 * the local one), dropped by `drop()`. For the load script; the tests use testkit's.
 * @param {{ serverUrl?: string, prefix?: string }} [options]
 */
export async function createPrivateDatabase({
  serverUrl = process.env.DATABASE_URL || LOCAL_POSTGRES,
  prefix = 'pdv_bench',
} = {}) {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withPostgres(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  let dropped = false;
  return {
    url: databaseUrl(serverUrl, name),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      await withPostgres(serverUrl, async (client) => {
        await client.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        await client.query(`DROP DATABASE IF EXISTS "${name}"`);
      });
    },
  };
}
