/**
 * One client's requests, answered one after another in the order they came, though one may
 * wait (a join waits for its room's Redis subscription). At most `max` wait at a time.
 */
export class RequestTurns {
  /** The last request taken, settling. */
  private last: Promise<void> | undefined;
  private waiting = 0;

  constructor(private readonly max: number) {}

  /** Runs `answer` after the requests taken before it; undefined (not run) when `max` wait. */
  take(answer: () => Promise<void>): Promise<void> | undefined {
    if (this.waiting >= this.max) return undefined;
    this.waiting++;
    const previous = this.last;
    const answered = previous === undefined ? answer() : previous.then(answer);
    this.last = answered;
    const done = () => {
      this.waiting--;
      if (this.last === answered) this.last = undefined;
    };
    answered.then(done, done);
    return answered;
  }
}
