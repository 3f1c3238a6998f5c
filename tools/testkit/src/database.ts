import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A Postgres database of the test's own, dropped afterwards. */
export interface TestDatabase {
  /** Connection string of the new database. */
  readonly url: string;
  readonly name: string;
  /** Ends its connections and drops it. Idempotent. */
  drop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The server the tests use: DATABASE_URL, else the local one with trust auth. */
export function postgresUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

/**
 * Creates a fresh database on the test server (DATABASE_URL or 127.0.0.1:5432), so each
 * test file has its own and files can run in parallel. Fails loudly if Postgres is absent.
 */
export async function createDatabase(name = 'db'): Promise<TestDatabase> {
  const serverUrl = postgresUrl();
  const database = `test_${name}_${process.pid}_${randomBytes(4).toString('hex')}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63);
  await admin(serverUrl, (client) => client.query(`CREATE DATABASE "${database}"`));
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  let dropped = false;
  const handle: TestDatabase = {
    url: url.toString(),
    name: database,
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(serverUrl, async (client) => {
        // A pool's end() resolves before its connections have closed: give those a moment to
        // go by themselves, since a connection ended by the server while it closes is an
        // 'error' on a pool that no longer listens (an uncaught exception in the test).
        const others = 'FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()';
        for (let waited = 0; waited < 1000; waited += 50) {
          const { rows } = await client.query(`SELECT count(*)::int AS n ${others}`, [database]);
          if (rows[0].n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await client.query(`SELECT pg_terminate_backend(pid) ${others}`, [database]);
        await client.query(`DROP DATABASE IF EXISTS "${database}"`);
      });
    },
    [Symbol.asyncDispose]: () => handle.drop(),
  };
  return handle;
}

async function admin(serverUrl: string, work: (client: pg.Client) => Promise<unknown>) {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `Postgres is not reachable at ${serverUrl} (${(error as Error).message}). ` +
        'Start one (Debian: pg_ctlcluster 15 main start) or set DATABASE_URL.',
    );
  }
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
