import {
  parseJsonObject,
  parseTraceparent,
  restaurantRoom,
  type TraceParent,
} from '@bancada/internal/wire';

/** One entry of a Redis Stream as XREADGROUP returns it: its id and its field/value list. */
export interface StreamEntry {
  id: string;
  fields: string[];
}

/** One row of the events table, read from an entry's envelope. */
export interface EventRow {
  /** The envelope's `id`: the key that makes inserts idempotent. */
  id: string;
  /** The stream entry it came from. */
  streamId: string;
  room: string | null;
  eventType: string;
  /** The payload as JSON text. */
  payload: string;
  /** Milliseconds since the epoch. */
  ts: number;
  traceId: string;
  /** The trace the event was published in (its `traceparent`), if any: not written, linked. */
  trace: TraceParent | undefined;
}

/** A stream's entries split into rows to write and entries that can never be written. */
export interface ParsedBatch {
  rows: EventRow[];
  /** Each with the reason it was refused. */
  malformed: Array<{ entry: StreamEntry; reason: string }>;
}

/**
 * Reads the envelope in `field` of each entry. An envelope is usable when it is a JSON object
 * with a non-empty `id` (string or number) and `eventType`; `room` is its `room`, else
 * `restaurant:<restaurantId>`, else null; `ts` its `ts` (ms), else the time Redis took the
 * entry; `traceId` its `traceId`, else its id.
 */
export function parseEntries(entries: readonly StreamEntry[], field: string): ParsedBatch {
  const rows: EventRow[] = [];
  const malformed: ParsedBatch['malformed'] = [];
  for (const entry of entries) {
    const row = rowOf(entry, field);
    if (typeof row === 'string') malformed.push({ entry, reason: row });
    else rows.push(row);
  }
  return { rows, malformed };
}

function rowOf(entry: StreamEntry, field: string): EventRow | string {
  const text = fieldValue(entry.fields, field);
  if (text === undefined) return `no "${field}" field`;
  const v = parseJsonObject(text);
  if (typeof v === 'string') return v;
  const id = typeof v.id === 'string' || typeof v.id === 'number' ? String(v.id) : '';
  if (id.length === 0) return 'no id';
  if (typeof v.eventType !== 'string' || v.eventType.length === 0) return 'no eventType';
  let room: string | null = null;
  if (typeof v.room === 'string' && v.room.length > 0) room = v.room;
  else if (typeof v.restaurantId === 'string' || typeof v.restaurantId === 'number') {
    room = restaurantRoom(v.restaurantId);
  }
  return {
    id,
    streamId: entry.id,
    room,
    eventType: v.eventType,
    payload: JSON.stringify(v.payload ?? null),
    ts: typeof v.ts === 'number' && Number.isFinite(v.ts) ? v.ts : entryTime(entry.id),
    traceId: typeof v.traceId === 'string' && v.traceId.length > 0 ? v.traceId : id,
    trace: parseTraceparent(v.traceparent),
  };
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1];
  }
  return undefined;
}

/** The milliseconds part of a stream id (`<ms>-<seq>`): when Redis took the entry. */
function entryTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf('-')));
}
