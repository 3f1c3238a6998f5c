import { HttpError } from './http-error.js';

/** What a login turned away for lack of hashing capacity is told to wait, in seconds. */
const BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * At most `maxConcurrent` password hashes at once on this instance, and `maxQueued` more
 * waiting their turn; past that, a 503 with Retry-After at once. A scrypt check takes tens
 * of milliseconds of a core and 32 MiB: unbounded, a burst of logins queues in libuv's
 * thread pool (which file and DNS work share), every answer comes later, and memory grows
 * with the burst. Bounded, the logins it admits answer within about
 * (maxQueued / maxConcurrent + 1) hashes' time, and memory stays put.
 */
export class PasswordGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Logins turned away since start. */
  refused = 0;

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  /** Runs `work` when a slot is free; throws a 503 HttpError when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Hashes running now, and waiting. */
  stats(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }

  private enter(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueued) {
      this.refused++;
      return Promise.reject(
        new HttpError(503, 'busy', 'too many logins at once; try again in a moment', {
          'Retry-After': String(BUSY_RETRY_AFTER_SECONDS),
        }),
      );
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private leave(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next in line: `running` stays as it is.
    if (next) next();
    else this.running--;
  }
}
