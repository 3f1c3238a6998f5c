/**
 * A read or write of one key that is on its way to Redis. An invalidation of the key that
 * arrives meanwhile marks it stale, so the reply, which may predate the change, is returned
 * to its caller but not kept in the local tier.
 */
export interface Flight {
  stale: boolean;
  /** For a read: its reply, shared by every caller that asks for the key meanwhile. */
  read?: Promise<unknown>;
}

/** The flights under way, at most one current flight per key. */
export class Flights {
  private readonly byKey = new Map<string, Flight>();

  /** The read of `key` under way, if any. */
  readOf(key: string): Promise<unknown> | undefined {
    return this.byKey.get(key)?.read;
  }

  start(key: string): Flight {
    const flight: Flight = { stale: false };
    const previous = this.byKey.get(key);
    // A newer operation on the key supersedes an older one still on its way.
    if (previous) previous.stale = true;
    this.byKey.set(key, flight);
    return flight;
  }

  end(key: string, flight: Flight): void {
    if (this.byKey.get(key) === flight) this.byKey.delete(key);
  }

  /** Marks the flight of `key` stale: whatever it brings back is not kept locally. */
  abandon(key: string): void {
    const flight = this.byKey.get(key);
    if (flight) {
      flight.stale = true;
      this.byKey.delete(key);
    }
  }

  abandonMatching(matches: RegExp): void {
    this.abandonWhere((key) => matches.test(key));
  }

  abandonWhere(test: (key: string) => boolean): void {
    for (const key of [...this.byKey.keys()]) if (test(key)) this.abandon(key);
  }

  abandonAll(): void {
    for (const flight of this.byKey.values()) flight.stale = true;
    this.byKey.clear();
  }
}
