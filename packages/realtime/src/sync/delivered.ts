import {
  compareStreamIds,
  type Envelope,
  parseStreamId,
  type StreamId,
} from '@bancada/internal/wire';

/** Own events remembered as delivered without a history position (see `withoutPosition`). */
const MAX_UNPOSITIONED = 10_000;

/**
 * The one rule against duplicates, per room: an event of a room with history goes out here
 * once, in the order of its position, never at or before the last position delivered; and
 * an own event that went out without a position (its append timed out) is not sent again
 * when its append turns up late after all. (An own event of a room without history went out
 * when it was published: its echo is not even looked at, see RoomSync.arrive.)
 */
export class Delivered {
  /** The last history position delivered here, per room with history and local clients. */
  private readonly positions = new Map<string, StreamId>();
  private readonly unpositioned = new Set<string>();

  /** Notes an own event delivered without a position: its late echo is a duplicate. */
  withoutPosition(envelope: Envelope): void {
    if (this.unpositioned.size < MAX_UNPOSITIONED) this.unpositioned.add(keyOf(envelope));
  }

  /** True (and forgotten) when `envelope` is the late echo of an own event delivered already. */
  isLateEcho(envelope: Envelope, instanceId: string): boolean {
    return envelope.origin === instanceId && this.unpositioned.delete(keyOf(envelope));
  }

  /**
   * True when the envelope's position is after the room's last one, which it then becomes;
   * false for one delivered already. An envelope without a position always passes.
   */
  advance(room: string, envelope: Envelope): boolean {
    const position = parseStreamId(envelope.id);
    if (position === undefined) return true;
    const last = this.positions.get(room);
    if (last !== undefined && compareStreamIds(position, last) <= 0) return false;
    this.positions.set(room, position);
    return true;
  }

  /** The last position delivered in the room, as an id to read its history after. */
  lastOf(room: string): string | undefined {
    const last = this.positions.get(room);
    return last === undefined ? undefined : `${last[0]}-${last[1]}`;
  }

  /** Rooms with a position: what a catch-up after an outage starts from. */
  rooms(): IterableIterator<string> {
    return this.positions.keys();
  }

  /** The room has no local member any more: its next member starts afresh. */
  forget(room: string): void {
    this.positions.delete(room);
  }
}

function keyOf(envelope: Envelope): string {
  return `${envelope.room}\0${envelope.seq}`;
}
