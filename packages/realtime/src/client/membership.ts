import {
  compareStreamIds,
  EVERYONE,
  MAX_SINCE_LENGTH,
  parseStreamId,
  RequestType,
  type StreamId,
} from '@bancada/internal/wire';

/**
 * Where the join of a room stands: asked for and never confirmed (`joining`), confirmed by
 * the hub (`joined`), or confirmed on an earlier link and asked for again (`rejoining`).
 * One state, rather than flags for "joined before" and "gap due" that must move together.
 */
type RoomState = 'joining' | 'joined' | 'rejoining';

/** What the client knows of one room it is in. */
interface Room {
  state: RoomState;
  /** The latest request for the room was a resume: the hub reports what it cannot replay. */
  resumed: boolean;
  /** The last id seen, opaque or not. */
  lastId: string | undefined;
  /** The last id seen that is a position in the room's history: where a resume starts. */
  position: StreamId | undefined;
  positionId: string | undefined;
}

/** What the hub's confirmation of a room means for the app. */
export interface Confirmation {
  /** The join was a resume after the last event seen. */
  resumed: boolean;
  /** Events may have been missed: tell `gap` listeners. */
  gap: boolean;
}

/** The message that asks the hub for a room over WebSocket. */
export type RoomRequest =
  | { type: typeof RequestType.resume; room: string; since: string }
  | { type: typeof RequestType.subscribe; room: string };

/**
 * The rooms the client is in, and those it is leaving: where each one resumes, whether a
 * join may have missed events, and which events were already emitted.
 */
export class Membership {
  private readonly joined = new Map<string, Room>();
  /** Rooms left whose `left` has not come back yet: their late events are dropped. */
  private readonly leaving = new Set<string>();
  /** The last id of any room but the broadcast's: an SSE resume without a position. */
  private lastEventId: string | undefined;

  /** The rooms joined, in the order they were joined; live, as a Map's keys are. */
  names(): IterableIterator<string> {
    return this.joined.keys();
  }

  isLeaving(room: string): boolean {
    return this.leaving.has(room);
  }

  /** Adds `room`, with nothing seen in it yet; false when it was already joined. */
  join(room: string): boolean {
    if (this.joined.has(room)) return false;
    this.leaving.delete(room);
    this.joined.set(room, {
      state: 'joining',
      resumed: false,
      lastId: undefined,
      position: undefined,
      positionId: undefined,
    });
    return true;
  }

  /** Forgets `room` (left, or refused by the hub); false when it was not joined. */
  forget(room: string): boolean {
    return this.joined.delete(room);
  }

  /** `room` was left on the open link: drop its late events until the hub says `left`. */
  awaitLeft(room: string): void {
    this.leaving.add(room);
  }

  left(room: string): void {
    this.leaving.delete(room);
  }

  /** A new link: nothing of a room left on an earlier one can arrive on it. */
  newLink(): void {
    this.leaving.clear();
  }

  /**
   * The message that asks the hub for `room` over WebSocket: a resume after its last event
   * when there is one; undefined when the room is not joined.
   */
  request(room: string): RoomRequest | undefined {
    const entry = this.joined.get(room);
    if (entry === undefined) return undefined;
    const since = entry.positionId ?? entry.lastId;
    const resume = since !== undefined && since.length <= MAX_SINCE_LENGTH;
    asked(entry, resume);
    return resume
      ? { type: RequestType.resume, room, since }
      : { type: RequestType.subscribe, room };
  }

  /**
   * Where a new SSE stream resumes: the earliest position among the rooms (one
   * `Last-Event-ID` serves them all; what the other rooms get again is dropped as seen).
   */
  streamSince(): string | undefined {
    let earliest: Room | undefined;
    for (const entry of this.joined.values()) {
      if (entry.position === undefined) continue;
      if (
        earliest?.position === undefined ||
        compareStreamIds(entry.position, earliest.position) < 0
      ) {
        earliest = entry;
      }
    }
    return earliest?.positionId ?? this.lastEventId;
  }

  /**
   * `room` is in the SSE stream that just opened, which resumed from `streamSince()` or
   * not: the stream itself is the hub's confirmation.
   */
  streamed(room: string, resumed: boolean): Confirmation | undefined {
    const entry = this.joined.get(room);
    if (entry === undefined) return undefined;
    asked(entry, resumed);
    return this.confirm(room);
  }

  /** The hub confirmed `room`; undefined when it is not joined (any more). */
  confirm(room: string): Confirmation | undefined {
    const entry = this.joined.get(room);
    if (entry === undefined) return undefined;
    // Back in a room without a resume: events may have come and gone while away.
    const gap = entry.state === 'rejoining' && !entry.resumed;
    entry.state = 'joined';
    return { resumed: entry.resumed, gap };
  }

  /**
   * Whether to emit an event of `room` with `id`: not when the room is being left, nor when
   * `id` is a position at or before the last one seen in the room (already emitted).
   */
  accept(room: string, id: string): boolean {
    if (this.leaving.has(room)) return false;
    const entry = this.joined.get(room);
    if (entry !== undefined && id !== '') {
      const position = parseStreamId(id);
      if (position !== undefined) {
        if (entry.position !== undefined && compareStreamIds(position, entry.position) <= 0) {
          return false;
        }
        entry.position = position;
        entry.positionId = id;
      }
      entry.lastId = id;
    }
    if (room !== EVERYONE && id !== '') this.lastEventId = id;
    return true;
  }
}

/** The room is asked for (again) on a new link; `resumed`: after its last event seen. */
function asked(entry: Room, resumed: boolean): void {
  entry.resumed = resumed;
  if (entry.state === 'joined') entry.state = 'rejoining';
}
