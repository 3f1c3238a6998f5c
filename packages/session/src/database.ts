import { ThrottledLog } from '@bancada/internal';
import pg from 'pg';
import type { Logger } from './types.js';

/**
 * The pool the session owns when given a connection string: every connect and query gives
 * up within `timeoutMs`, so a request meets a 503 instead of hanging on a dead database, and
 * errors of idle clients (the database restarting) are logged instead of crashing the process.
 * The server is given the same bound: a write the store gave up on (behind a lock, say) is
 * stopped there too, rather than saved later, after its request was told it failed. (A
 * query that fails releases its connection with the error, so the pool closes it.)
 */
export function openPool(
  connectionString: string,
  timeoutMs: number,
  logger: Logger,
  max = 10,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idle_in_transaction_session_timeout: timeoutMs,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
  });
  // A dead server errors every idle connection at once: one line says it.
  const log = new ThrottledLog(logger);
  pool.on('error', (error) => {
    log.error('idle', `session: idle database connection failed: ${error.message}`);
  });
  return pool;
}
