import { within } from '@bancada/internal';
import {
  compareStreamIds,
  decodeEnvelope,
  type Envelope,
  EVERYONE,
  parseStreamId,
  positionedLine,
} from '@bancada/internal/wire';
import type { Cluster, Redis } from 'ioredis';
import type { RedisNames } from '../bus/redis-names.js';
import type { ResolvedHistory } from './history-options.js';

export type { HistoryOptions, ResolvedHistory } from './history-options.js';

/** What a read of a room's history after a position found. */
export interface HistoryRead {
  /** The entries after the position, oldest first: events and marks of lost events. */
  entries: Envelope[];
  /** False when entries after the position were trimmed, or the history is gone. */
  complete: boolean;
  /** False when the room has no history at all (never had, expired, or Redis lost it). */
  exists: boolean;
  /**
   * The position is beyond the newest one this history ever made: no position of it
   * (forged, or from a history Redis lost).
   */
  ahead: boolean;
}

/**
 * Reads the rooms' history, the Redis Streams `<prefix>ws:history:<room>` that the bus
 * appends to. Every read is bounded: a Redis that stopped answering must not hold a replay
 * (and the live events waiting behind it) or a catch-up for ever.
 */
export class HistoryReader {
  constructor(
    private readonly redis: () => Redis | Cluster,
    /** Waits (bounded) for the connection that reads to be up: see `since`. */
    private readonly connected: (timeoutMs: number) => Promise<void>,
    private readonly names: RedisNames,
    readonly options: ResolvedHistory,
    private readonly timeoutMs: number,
  ) {}

  /** True when `room` keeps history. */
  keeps(room: string): boolean {
    return room !== EVERYONE && this.options.rooms(room);
  }

  /**
   * What came after `since` in the room's history (see HistoryRead). After an outage the
   * hub's two connections come back apart: the subscriber can deliver an event that shows a
   * hole while the connection that reads is still reconnecting. This waits for it (bounded)
   * rather than take a hole that the history can fill for a gap.
   */
  async since(room: string, since: string): Promise<HistoryRead> {
    await this.connected(this.timeoutMs);
    const position = parseStreamId(since);
    if (position === undefined) return { entries: [], complete: false, exists: true, ahead: false };
    const key = this.names.historyKeyOf(room);
    const [info, raw] = await within(
      Promise.all([
        this.redis()
          .call('XINFO', 'STREAM', key)
          .catch(() => undefined) as Promise<unknown[] | undefined>,
        this.redis().xrange(key, `(${since}`, '+', 'COUNT', this.options.maxReplay + 1),
      ]),
      this.timeoutMs,
      `no answer from Redis within ${this.timeoutMs} ms`,
    );
    if (info === undefined) return { entries: [], complete: false, exists: false, ahead: false };
    const newest = parseStreamId(String(field(info, 'last-generated-id')));
    const ahead = newest !== undefined && compareStreamIds(position, newest) > 0;
    const entries: Envelope[] = [];
    for (const [id, fields] of raw.slice(0, this.options.maxReplay)) {
      const envelope = decodeEnvelope(positionedLine(id, fields[1] ?? ''), room);
      if (typeof envelope !== 'string') entries.push(envelope);
    }
    // Trimming removes the oldest entries: nothing after `since` is gone if the oldest kept
    // one is not after it (an empty history: if nothing was added after it).
    const first = field(info, 'first-entry') as [string, string[]] | null | undefined;
    const oldest = parseStreamId(first ? first[0] : String(field(info, 'last-generated-id')));
    const complete =
      raw.length <= this.options.maxReplay &&
      oldest !== undefined &&
      compareStreamIds(oldest, position) <= 0;
    return { entries, complete, exists: true, ahead };
  }
}

/** A field of a flat [name, value, name, value...] reply. */
function field(reply: unknown[], name: string): unknown {
  const at = reply.indexOf(name);
  return at === -1 ? undefined : reply[at + 1];
}
