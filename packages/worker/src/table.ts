import { createHash } from 'node:crypto';
import type { EventRow } from './entries.js';

/** The SQL the worker runs against its table, built once from the (validated) table name. */
export interface TableSql {
  /** Creates the table and its index if missing; safe when several workers start at once. */
  create: string;
  /** Inserts a batch from seven arrays, skipping ids already there. */
  insert: string;
  /** A name for the prepared insert, so Postgres plans it once per connection. */
  insertName: string;
}

/**
 * The table's schema. `id` is the envelope's id: the primary key is what makes a redelivered
 * batch insert nothing twice. Reads go by room and time, hence the index.
 */
export function tableSql(table: string): TableSql {
  const quoted = table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
  const bare = table.slice(table.lastIndexOf('.') + 1);
  return {
    // One simple-protocol string runs as one implicit transaction, so the advisory lock is
    // held until the end: two workers starting together cannot race on CREATE TABLE (which
    // fails with a duplicate pg_type key when they do).
    create: `
      SELECT pg_advisory_xact_lock(hashtext('bancada-realtime-worker:${table}'));
      CREATE TABLE IF NOT EXISTS ${quoted} (
        id          text        PRIMARY KEY,
        stream_id   text        NOT NULL,
        room        text,
        event_type  text        NOT NULL,
        payload     jsonb       NOT NULL,
        ts          timestamptz NOT NULL,
        trace_id    text        NOT NULL,
        inserted_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS "${bare}_room_ts_idx" ON ${quoted} (room, ts);`,
    insert: `
      INSERT INTO ${quoted} (id, stream_id, room, event_type, payload, ts, trace_id)
      SELECT id, stream_id, room, event_type, payload::jsonb, to_timestamp(ts / 1000.0), trace_id
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[])
        AS r(id, stream_id, room, event_type, payload, ts, trace_id)
      ON CONFLICT (id) DO NOTHING`,
    // Statement names are cut at 63 bytes like identifiers: a hash keeps long names apart.
    insertName: `bancada_worker_insert_${createHash('sha1').update(table).digest('hex').slice(0, 16)}`,
  };
}

/** The seven arrays of the insert, one per column: one round trip whatever the batch size. */
export function insertValues(rows: readonly EventRow[]): unknown[][] {
  const ids: string[] = [];
  const streamIds: string[] = [];
  const rooms: Array<string | null> = [];
  const types: string[] = [];
  const payloads: string[] = [];
  const times: number[] = [];
  const traces: string[] = [];
  for (const row of rows) {
    ids.push(row.id);
    streamIds.push(row.streamId);
    rooms.push(row.room);
    types.push(row.eventType);
    payloads.push(row.payload);
    times.push(row.ts);
    traces.push(row.traceId);
  }
  return [ids, streamIds, rooms, types, payloads, times, traces];
}

/**
 * A Postgres error that this data will always get, whatever the server's state: a data
 * exception (22: bad JSON escape, time out of range, NUL in text), an integrity violation
 * (23) or a program limit (54: an id too long for the index). Retrying cannot help.
 */
export function isPoisonError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('22') || code.startsWith('23') || code.startsWith('54'))
  );
}

/** The table is gone (dropped, or a new database): create it again before the next try. */
export function isMissingTable(error: unknown): boolean {
  return (error as { code?: unknown }).code === '42P01';
}
