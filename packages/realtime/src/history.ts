import type { Redis } from 'ioredis';
import { GAP_EVENT, withId } from './envelope.js';
import { compareStreamIds, parseStreamId } from './stream-id.js';

/** How rooms keep their recent events (`HubOptions.history`). */
export interface HistoryOptions {
  /** Which rooms keep history. @default every room but the broadcast */
  rooms?: (room: string) => boolean;
  /** Events kept per room, at least (Redis trims in whole nodes). @default 1000 */
  maxLen?: number;
  /** Events older than this are trimmed, and an idle room's history expires. @default 3_600_000 (1 h) */
  maxAgeMs?: number;
  /** Events one resume may replay; further back is a gap. @default 1000 */
  maxReplay?: number;
  /**
   * The shortest time between two replays of one room to one connection. A resume that
   * comes sooner (a client looping `resume since 0-0`) joins as usual but gets `gap` instead
   * of a replay, and is counted in `replaysRefused`. The first resume of each room on a
   * connection (a reconnect) is always served.
   * @default 10_000
   */
  minReplayIntervalMs?: number;
}

export interface ResolvedHistory {
  rooms: (room: string) => boolean;
  maxLen: number;
  maxAgeMs: number;
  maxReplay: number;
  minReplayIntervalMs: number;
}

/** One entry of a room's history: an event, or the mark of events lost there. */
export type HistoryEntry = { id: string; text: string; gap: boolean };

/**
 * Appends to the stream and publishes in one step, so the id clients see is the position
 * in the stream, and no instance can see the event before it is in the history. The
 * envelope travels without its id (`body` is its JSON without the leading `{`); the id is
 * put in front here.
 */
const APPEND = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
local now = redis.call('TIME')
local oldest = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) - tonumber(ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], '{"id":"' .. id .. '",' .. ARGV[3])
return id
`;

/**
 * The history of rooms, in Redis Streams `<prefix>ws:history:<room>`. Every call is bounded
 * by `timeoutMs`: a Redis that stopped answering must not hold a publish, a replay (and the
 * live events waiting behind it) or a catch-up for ever.
 */
export class HistoryStore {
  constructor(
    private readonly redis: () => Redis,
    private readonly prefix: string,
    readonly options: ResolvedHistory,
    private readonly timeoutMs: number,
  ) {}

  keyOf(room: string): string {
    return `${this.prefix}ws:history:${room}`;
  }

  /** Appends `body` to the room's history and publishes it on `channel`; resolves the id. */
  async append(room: string, channel: string, body: string): Promise<string> {
    const id = await this.bounded(
      this.redis().eval(
        APPEND,
        2,
        this.keyOf(room),
        channel,
        this.options.maxLen,
        this.options.maxAgeMs,
        body,
      ),
    );
    return String(id);
  }

  /** Records (and announces on `channel`) that events of the room were lost here. */
  markGap(room: string, channel: string, origin: string): Promise<string> {
    const body = JSON.stringify({ eventType: GAP_EVENT, ts: Date.now(), room, origin }).slice(1);
    return this.append(room, channel, body);
  }

  /**
   * What came after `since` in the room's history, oldest first, and whether that is all
   * of it: false when entries after `since` were trimmed, or the history is gone (`exists`
   * false: the room has no history at all). `ahead`: `since` is beyond the newest position
   * this history ever made, so it is no position of it (forged, or from a history Redis lost).
   */
  async since(
    room: string,
    since: string,
  ): Promise<{ entries: HistoryEntry[]; complete: boolean; exists: boolean; ahead: boolean }> {
    const position = parseStreamId(since);
    if (position === undefined) {
      return { entries: [], complete: false, exists: true, ahead: false };
    }
    const key = this.keyOf(room);
    const [info, raw] = await this.bounded(
      Promise.all([
        this.redis()
          .call('XINFO', 'STREAM', key)
          .catch(() => undefined) as Promise<unknown[] | undefined>,
        this.redis().xrange(key, `(${since}`, '+', 'COUNT', this.options.maxReplay + 1),
      ]),
    );
    if (info === undefined) return { entries: [], complete: false, exists: false, ahead: false };
    const newest = parseStreamId(String(field(info, 'last-generated-id')));
    const ahead = newest !== undefined && compareStreamIds(position, newest) > 0;
    const entries = raw.slice(0, this.options.maxReplay).map(([id, fields]) => toEntry(id, fields));
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

  /** Rejects when Redis does not answer within the timeout. */
  private bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from Redis within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      timer.unref();
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}

function toEntry(id: string, fields: string[]): HistoryEntry {
  const body = fields[1] ?? '';
  return { id, text: withId(id, body), gap: body.includes(`"eventType":"${GAP_EVENT}"`) };
}

/** A field of a flat [name, value, name, value...] reply. */
function field(reply: unknown[], name: string): unknown {
  const at = reply.indexOf(name);
  return at === -1 ? undefined : reply[at + 1];
}
