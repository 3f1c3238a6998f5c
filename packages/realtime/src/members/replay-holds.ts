import { compareStreamIds, parseStreamId, type StreamId } from '@bancada/internal/wire';
import type { Outgoing } from './outgoing.js';

/**
 * One client's replays of rooms' history. While a room is replayed, its live events wait
 * here; afterwards, a live event at or before the last replayed position is one the replay
 * already sent (the history can be read before the same event arrives on the room's
 * channel), so it is skipped: no duplicate and no hole between the replay and live delivery.
 * Also paces replays: a room at most once per interval to one client.
 */
export class ReplayHolds {
  private readonly held = new Map<string, Outgoing[]>();
  /** Per room: the last position replayed, until a live event beyond it arrives. */
  private readonly floors = new Map<string, StreamId>();
  /** Per room: when its history was last replayed to this client. */
  private readonly replayedAt = new Map<string, number>();

  /**
   * Whether the room's history may be replayed to this client now: at most once per
   * `minIntervalMs`, so that a client looping `resume` cannot make the hub read and send
   * a room's history over and over. Counts this replay when it may.
   */
  mayReplay(room: string, now: number, minIntervalMs: number): boolean {
    const last = this.replayedAt.get(room);
    if (last !== undefined && now - last < minIntervalMs) return false;
    this.replayedAt.set(room, now);
    return true;
  }

  /** Live events of `room` wait from now until `end`. */
  hold(room: string): void {
    if (!this.held.has(room)) this.held.set(room, []);
  }

  /** What to do with a live event: write it now, keep it for later, or skip it. */
  route(event: Outgoing): 'send' | 'kept' | 'skip' {
    const room = event.envelope.room;
    const waiting = this.held.get(room);
    if (waiting !== undefined) {
      waiting.push(event);
      return 'kept';
    }
    const floor = this.floors.get(room);
    if (floor === undefined) return 'send';
    const position = parseStreamId(event.envelope.id);
    if (position === undefined) return 'send';
    if (compareStreamIds(position, floor) <= 0) return 'skip';
    this.floors.delete(room); // from here on, the channel's order is all there is
    return 'send';
  }

  /** Ends the hold; returns what to write now, in order: events after `after`, and those without a position. */
  end(room: string, after: StreamId | undefined): Outgoing[] {
    const waiting = this.held.get(room) ?? [];
    this.held.delete(room);
    if (after === undefined) return waiting;
    this.floors.set(room, after);
    return waiting.filter((event) => this.route(event) === 'send');
  }

  /** Ends the hold and forgets what waited (the join failed). */
  drop(room: string): void {
    this.held.delete(room);
  }
}
