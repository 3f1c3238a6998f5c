import { performance } from 'node:perf_hooks';
import { within } from '@bancada/internal';
import pg from 'pg';
import type { EventRow } from './entries.js';
import type { ResolvedWorkerOptions } from './options.js';
import { insertValues, isMissingTable, isPoisonError, type TableSql, tableSql } from './table.js';

/** What a write did: rows added, rows Postgres refuses for their data, the INSERT's time. */
export interface Written {
  inserted: number;
  refused: Array<{ row: EventRow; reason: string }>;
  ms: number;
}

/**
 * The Postgres side: the events table, created when it is missing, and the batch INSERT, on
 * a pool of the worker's own or of the application's. Each call is tried once.
 */
export class EventTable {
  private readonly pool: pg.Pool;
  private readonly sql: TableSql;
  private ready: boolean;

  constructor(
    private readonly o: ResolvedWorkerOptions,
    private readonly onIdleError: (error: Error) => void,
  ) {
    this.sql = tableSql(o.table);
    this.ready = !o.createTable;
    this.pool =
      o.pool ??
      new pg.Pool({
        connectionString: o.connectionString,
        // Batches are written one at a time: a second connection lets a retry start while
        // a broken one is still being torn down.
        max: 2,
        connectionTimeoutMillis: 5000,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        application_name: 'bancada-worker',
        // An INSERT given up on is stopped by the server too, not left queued behind a lock
        // holding a connection slot (and it never lands late either: each retry's does).
        statement_timeout: o.statementTimeoutMs,
        idle_in_transaction_session_timeout: o.statementTimeoutMs,
      });
    // An idle connection that breaks is reported on the pool: without a listener, that
    // would crash the process. The next write finds out and is retried.
    this.pool.on('error', onIdleError);
  }

  /** Writes `rows` in one statement (creating the table first if it is missing). */
  async write(rows: EventRow[]): Promise<Written> {
    try {
      if (!this.ready) await this.create();
      const started = performance.now();
      const result = await this.insertAll(rows);
      return { ...result, ms: performance.now() - started };
    } catch (error) {
      // Dropped, or a new database: create it again before the next try.
      if (isMissingTable(error)) this.ready = false;
      throw error;
    }
  }

  /** Ends the worker's own pool (never the application's). */
  async close(): Promise<void> {
    if (this.o.pool === undefined) await this.pool.end().catch(() => {});
    this.pool.off('error', this.onIdleError);
  }

  /** One statement for the batch; if Postgres refuses its data, row by row to find out which. */
  private async insertAll(rows: EventRow[]): Promise<Omit<Written, 'ms'>> {
    try {
      return { inserted: await this.insert(rows), refused: [] };
    } catch (error) {
      if (!isPoisonError(error)) throw error;
    }
    let inserted = 0;
    const refused: Written['refused'] = [];
    for (const row of rows) {
      try {
        inserted += await this.insert([row]);
      } catch (error) {
        if (!isPoisonError(error)) throw error;
        refused.push({ row, reason: `refused by postgres: ${(error as Error).message}` });
      }
    }
    return { inserted, refused };
  }

  private async insert(rows: readonly EventRow[]): Promise<number> {
    const o = this.o;
    // query_timeout ends the query and drops its connection; `within` also covers a pool of
    // the application's whose connect() has no timeout.
    const query = this.pool.query({
      name: this.sql.insertName,
      text: this.sql.insert,
      values: insertValues(rows),
      query_timeout: o.statementTimeoutMs,
    } as pg.QueryConfig);
    const result = await within(
      query,
      o.statementTimeoutMs + 5000,
      `no answer from postgres within ${o.statementTimeoutMs + 5000} ms`,
    );
    return result.rowCount ?? 0;
  }

  private async create(): Promise<void> {
    if (!this.o.createTable) {
      throw Object.assign(
        new Error(`table ${this.o.table} does not exist, and createTable is false`),
        { code: '42P01' },
      );
    }
    await within(
      this.pool.query(this.sql.create),
      this.o.statementTimeoutMs,
      `could not create table ${this.o.table} within ${this.o.statementTimeoutMs} ms`,
    );
    this.ready = true;
  }
}
