import { describeRedisError } from '@bancada/internal';
import type { StreamEntry } from './entries.js';

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

/** The field/value list of an XINFO GROUPS item, as a map. */
export function infoOf(flat: unknown[]): Map<unknown, unknown> {
  const info = new Map<unknown, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) info.set(flat[i], flat[i + 1]);
  return info;
}

/** True for the error Redis gives when the stream or its group no longer exists. */
export function isNoGroup(error: unknown): boolean {
  return (error as Error | undefined)?.message?.startsWith('NOGROUP') === true;
}

/**
 * A Redis error in words for the log: ioredis's Cluster says only "Failed to refresh slots
 * cache" when no seed node answers, or none can say who serves the slots.
 */
export function explainRedisError(error: unknown): string {
  const message = describeRedisError(error);
  if (/Failed to refresh slots cache/i.test(message)) {
    return `${message} (no node of the cluster's seed list answers, or none serves every slot)`;
  }
  return message;
}
