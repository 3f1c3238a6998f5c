import { openOwnConnection } from '@bancada/internal';
import type { Redis, RedisOptions } from 'ioredis';
import type { StreamEntry } from './entries.js';

/**
 * One connection of the worker's own. Commands fail at once while it is down instead of
 * queueing: the worker's loop decides when to try again, and a queued XACK or XREADGROUP
 * replayed after a reconnect could act on a batch the loop has already given up.
 */
export function openConnection(source: string | Redis | RedisOptions, name: string): Redis {
  return openOwnConnection(source, { name, maxRetryDelayMs: 2000, connectTimeoutMs: 5000 });
}

/** Resolves true once `connection` is ready, or false as soon as `signal` aborts. */
export function whenReady(connection: Redis, signal: AbortSignal): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      connection.off('ready', onReady);
      signal.removeEventListener('abort', onAbort);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onAbort = () => done(false);
    connection.on('ready', onReady);
    signal.addEventListener('abort', onAbort);
  });
}

/**
 * The entries of an XREADGROUP reply for one stream. An entry deleted from the stream while
 * it was pending comes back with no fields: its id is in `gone`.
 */
export function entriesOfRead(reply: unknown): {
  entries: StreamEntry[];
  gone: string[];
  /** The id of the last item of the reply, entry or gone. */
  lastId: string | undefined;
} {
  const streams = reply as Array<[string, unknown[]]> | null;
  const first = streams?.[0];
  if (first === undefined) return { entries: [], gone: [], lastId: undefined };
  const last = first[1].at(-1) as [string, unknown] | undefined;
  return { ...splitEntries(first[1]), lastId: last?.[0] };
}

/**
 * An XAUTOCLAIM reply: the cursor to go on from ('0-0' when the scan is over) and the entries
 * taken over. Redis 7 drops deleted entries from the pending list itself and lists their
 * ids third; Redis 6.2 returns them as nil in place of the entry.
 */
export function entriesOfClaim(reply: unknown): {
  cursor: string;
  entries: StreamEntry[];
  gone: string[];
} {
  const [cursor, raw, deleted] = reply as [string, unknown[], string[] | undefined];
  const { entries, gone } = splitEntries(raw);
  return { cursor, entries, gone: deleted === undefined ? gone : [...gone, ...deleted] };
}

function splitEntries(raw: unknown[]): { entries: StreamEntry[]; gone: string[] } {
  const entries: StreamEntry[] = [];
  const gone: string[] = [];
  for (const item of raw) {
    if (item === null) continue; // Redis 6.2's XAUTOCLAIM: a deleted entry, id unknown
    const [id, fields] = item as [string, string[] | null];
    if (fields === null || fields === undefined) gone.push(id);
    else entries.push({ id, fields });
  }
  return { entries, gone };
}

/** True for the error Redis gives when the stream or its group no longer exists. */
export function isNoGroup(error: unknown): boolean {
  return (error as Error | undefined)?.message?.startsWith('NOGROUP') === true;
}
