import type { ThrottledLog } from '@bancada/internal';
import type { Member } from './member.js';

/**
 * Connections in no room, which get broadcasts only: for most apps, nothing at all. Usually
 * a client that never asks for its room in a way this hub understands, such as an old
 * front-end that expects its room from the URL on a path without `rooms`, or sends its own
 * join message to a path without `decode`: it stays connected, and silently receives
 * nothing. Past `afterMs` in no room (since it connected, or left its last room) it is
 * counted (`stats().roomless`) and logged, at most once per interval for all of them.
 *
 * Only connections in no room are kept here, so a joined one costs nothing; one timer for
 * all of them.
 */
export class Roomless {
  /** Per connection in no room, since when (whole ms of the monotonic clock), oldest first. */
  private readonly since = new Map<Member, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly afterMs: number,
    private readonly log: ThrottledLog,
  ) {
    this.timer = setInterval(() => this.report(), afterMs);
    this.timer.unref();
  }

  /** The member is in no room from now on (it connected, or left its last room). */
  entered(member: Member): void {
    // Whole ms stay small integers, kept in the map without an allocation each; rounded up,
    // so that nobody is counted before its time.
    if (!this.since.has(member)) this.since.set(member, Math.ceil(performance.now()));
  }

  /** The member joined a room, or is gone. */
  left(member: Member): void {
    this.since.delete(member);
  }

  /** Connections in no room for at least `afterMs`. */
  count(): number {
    const bound = performance.now() - this.afterMs;
    let n = 0;
    // Insertion order is time order: the first one too young ends the count.
    for (const since of this.since.values()) {
      if (since > bound) break;
      n++;
    }
    return n;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private report(): void {
    const n = this.count();
    if (n === 0) return;
    this.log.warn(
      'roomless',
      `realtime: ${n} connection(s) joined no room within ${this.afterMs} ms and receive ` +
        'broadcasts only (a client that expects its room from the URL: attach({ rooms }); its ' +
        'own join message: attach({ decode })); counted in stats().roomless',
    );
  }
}
