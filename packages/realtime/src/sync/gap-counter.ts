/**
 * Finds holes in what arrives from other instances. Every instance numbers its events per
 * room (`seq`, from 1); a receiver that sees origin X's room R jump from 41 to 45 missed
 * three, whatever the cause: a Redis outage, a publish dropped by X's breaker, or a publish
 * that went out before this instance had subscribed again. A lower number than the last one
 * means X restarted: it starts a new count.
 */
export class GapCounter {
  /** room -> origin -> last seq seen */
  private readonly lastSeen = new Map<string, Map<string, number>>();

  /** Notes an event; returns how many of the origin's events in its room came before it unseen. */
  note(room: string, origin: string, seq: number): number {
    let origins = this.lastSeen.get(room);
    if (origins === undefined) {
      origins = new Map();
      this.lastSeen.set(room, origins);
    }
    const last = origins.get(origin);
    origins.set(origin, seq);
    if (last === undefined || seq <= last) return 0;
    return seq - last - 1;
  }

  /** This instance no longer follows the room: what it misses there is not missed. */
  forget(room: string): void {
    this.lastSeen.delete(room);
  }
}
