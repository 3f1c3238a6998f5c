import pg from 'pg';
import { HttpError } from './http-error.js';

/**
 * The COMMIT was sent and no answer came (timeout, connection lost): the transaction may or
 * may not be committed. `processId` is the server session that ran it, for
 * `endAbandonedSession()`.
 */
export class CommitOutcomeUnknownError extends Error {
  readonly code = 'PDV_COMMIT_OUTCOME_UNKNOWN' as const;

  constructor(
    readonly processId: number | undefined,
    cause: unknown,
  ) {
    super(`no answer to COMMIT: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'CommitOutcomeUnknownError';
  }
}

/**
 * Postgres answered the COMMIT with an error: nothing was committed. Seen when the server
 * ended the transaction first (its `idle_in_transaction_session_timeout` fired while the
 * COMMIT was on its way), or a conflict made it roll back.
 */
export class CommitRefusedError extends Error {
  readonly code = 'PDV_COMMIT_REFUSED' as const;

  constructor(cause: pg.DatabaseError) {
    super(`COMMIT refused: ${cause.message}`, { cause });
    this.name = 'CommitRefusedError';
  }
}

/**
 * After these the server has answered and waits for our next command, so a ROLLBACK
 * works and the connection can be used again: an error of Postgres's own, or the app's
 * refusal between two queries. After anything else (a client-side timeout, a lost socket)
 * a statement may still be running on the server, and the connection's state is unknown.
 */
const stateKnown = (error: unknown) =>
  error instanceof pg.DatabaseError || error instanceof HttpError;

/**
 * Runs `work` in a transaction on a connection of `pool`. A connection whose state is
 * unknown is released with its error, so the pool closes it: never handed to the next
 * request in the middle of a transaction that request would then commit. Such a
 * transaction can no longer commit (its COMMIT is never sent), and the server ends it at
 * its `statement_timeout` or `idle_in_transaction_session_timeout`.
 *
 * A COMMIT that gets no answer throws `CommitOutcomeUnknownError`: the caller decides.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query('BEGIN');
    result = await work(client);
  } catch (error) {
    if (!stateKnown(error)) {
      client.release(error as Error);
      throw error;
    }
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (rollbackError) {
      client.release(rollbackError as Error);
    }
    throw error;
  }
  try {
    await client.query('COMMIT');
  } catch (error) {
    if (error instanceof pg.DatabaseError) {
      // Postgres refused the COMMIT: not committed. The connection is usable unless the server
      // ended its session (then pg has marked it, and the pool drops it).
      client.release();
      throw new CommitRefusedError(error);
    }
    client.release(error as Error);
    throw new CommitOutcomeUnknownError(processIdOf(client), error);
  }
  client.release();
  return result;
}

/** The server session of a connection (its backend pid), which `pg` keeps but does not type. */
function processIdOf(client: pg.PoolClient): number | undefined {
  const id = (client as unknown as { processID?: number | null }).processID;
  return typeof id === 'number' && id > 0 ? id : undefined;
}

/**
 * Ends the server session `processId` of this database and user, and waits until it is gone,
 * at most `withinMs`. A session that is gone has finished its transaction one way or the
 * other, for good: what a query sees afterwards is the outcome. False when that could not be
 * made sure of (Postgres unreachable, the session still there at the deadline).
 */
export async function endAbandonedSession(
  pool: pg.Pool,
  processId: number | undefined,
  withinMs: number,
): Promise<boolean> {
  if (processId === undefined) return false;
  const deadline = Date.now() + withinMs;
  const present = async () => {
    const found = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE pid = $1 AND datname = current_database() AND usename = current_user`,
      [processId],
    );
    return (found.rowCount ?? 0) > 0;
  };
  try {
    while (await present()) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  } catch {
    return false;
  }
}
