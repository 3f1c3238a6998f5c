/** What `within` rejects with when the time is up. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * `work`, or a TimeoutError with `message` if it has not settled within `ms`. The timer never
 * holds the process open. The loser may still settle later: nobody listens then.
 */
export function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
    timer.unref();
  });
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for `work` to settle, at most `ms`; never rejects (a polite close that may hang). */
export async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  await within(work, ms, '').catch(() => {});
}

/** Waits `ms`, or less if `signal` aborts first; never rejects, never holds the process open. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done);
  });
}

/** Resolves true when `emitter` emits `event`, false after `ms`; the listener is removed either way. */
export function once(
  emitter: {
    once(event: string, listener: () => void): unknown;
    off(event: string, listener: () => void): unknown;
  },
  event: string,
  ms: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      emitter.off(event, fired);
      resolve(false);
    }, ms);
    timer.unref();
    const fired = () => {
      clearTimeout(timer);
      resolve(true);
    };
    emitter.once(event, fired);
  });
}

/**
 * Delays between retries: from `min` doubling up to `max`, each one jittered to 50-100% so
 * that processes that failed together do not all retry in the same millisecond.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly min: number,
    private readonly max: number,
  ) {}

  /** The delay before the next try. */
  next(): number {
    const base = Math.min(this.max, this.min * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return base * (0.5 + Math.random() / 2);
  }

  /** A success: the next failure starts from `min` again. */
  reset(): void {
    this.attempt = 0;
  }
}
