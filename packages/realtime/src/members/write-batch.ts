/** A member whose writes of this turn (or of the write delay) wait to go out together. */
export interface Batched {
  /** Writes what waited, in one write to its socket. */
  flush(): void;
}

/**
 * What a member may hold back before it writes at once, however short the wait: a burst
 * never grows memory past this per connection, and a batch is still one system call.
 */
export const MAX_BATCH_BYTES = 64 * 1024;

/**
 * Frames for one socket produced in the same turn of the event loop (several events of
 * one Redis read, a replay, a burst) go out in one write: a member holds its writes back
 * on the first of them and joins the batch, and the batch flushes every member once, after
 * the turn (`process.nextTick`, so after every promise the turn resolved) or, with a
 * `delayMs`, at most that much later. One timer or tick for all members, not one each.
 */
export class WriteBatch {
  private waiting: Batched[] = [];
  private scheduled = false;
  private readonly run = () => this.flush();

  constructor(private readonly delayMs: number) {}

  /** The member holds writes back from now on; it is flushed with the batch. */
  add(member: Batched): void {
    this.waiting.push(member);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.delayMs === 0) process.nextTick(this.run);
    else setTimeout(this.run, this.delayMs).unref();
  }

  private flush(): void {
    const members = this.waiting;
    this.waiting = [];
    this.scheduled = false;
    for (const member of members) member.flush();
  }
}
