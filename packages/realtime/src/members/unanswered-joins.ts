import type { Outgoing } from './outgoing.js';

/**
 * Rooms a client joined and was not yet told `joined` (the hub waits for the room's
 * subscription): their events wait here, so that none comes before `joined`.
 */
export class UnansweredJoins {
  private readonly waiting = new Map<string, Outgoing[]>();

  get empty(): boolean {
    return this.waiting.size === 0;
  }

  /** The client asked for `room`: its events wait from now. */
  hold(room: string): void {
    if (!this.waiting.has(room)) this.waiting.set(room, []);
  }

  /** Keeps the event if its room waits for its `joined`; false when it does not. */
  keep(event: Outgoing): boolean {
    const waiting = this.waiting.get(event.envelope.room);
    if (waiting === undefined) return false;
    waiting.push(event);
    return true;
  }

  /** What of `room` waited; the room waits no more. */
  take(room: string): Outgoing[] {
    const waited = this.waiting.get(room) ?? [];
    this.waiting.delete(room);
    return waited;
  }
}
