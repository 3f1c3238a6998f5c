import { type EmbeddedPostgres, startEmbeddedPostgres } from '@bancada/session';
import pg from 'pg';
import type { Logger } from './logger.js';

export interface Database {
  pool: pg.Pool;
  /** What sessions and the NOTIFY bridge connect to. */
  connectionString: string;
  mode: 'postgres' | 'embedded';
  /** True when `SELECT 1` answers within a second. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The app's Postgres: `DATABASE_URL` when set, else an embedded one (PGlite) in `dataDir`,
 * reached through the same `pg` driver and SQL. `timeoutMs` bounds every step of a request's
 * database work: a connection, a query, a transaction left idle.
 */
export async function openDatabase(
  url: string | undefined,
  dataDir: string,
  logger: Logger,
  timeoutMs: number,
): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  if (url === undefined) embedded = await startEmbeddedPostgres(dataDir);
  const connectionString = url ?? (embedded as EmbeddedPostgres).connectionString;
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    connectionTimeoutMillis: timeoutMs,
    // A query that hangs (Postgres frozen) fails the request instead of holding it for ever.
    query_timeout: timeoutMs,
    // The same bounds on the server: a query the app gave up on stops there too, instead of
    // finishing later (an INSERT behind a lock), and a transaction the app stopped talking
    // to is rolled back rather than left open holding its locks.
    statement_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
  });
  let lastLog = 0;
  pool.on('error', (error) => {
    if (Date.now() - lastLog < 10_000) return; // a dead server errors every idle client at once
    lastLog = Date.now();
    logger.error(`postgres: idle connection failed: ${error.message}`);
  });
  return {
    pool,
    connectionString,
    mode: embedded ? 'embedded' : 'postgres',
    async ping() {
      const timeout = new Promise<false>((resolve) => setTimeout(resolve, 1_000, false).unref());
      const query = pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      return Promise.race([query, timeout]);
    },
    async close() {
      await pool.end();
      await embedded?.close();
    },
  };
}
