import { TimeoutError } from '@bancada/internal';

interface Pending {
  deadline: number;
  reject(error: Error): void;
}

/**
 * Bounds calls to `timeoutMs` (a call fails with a TimeoutError at most about 1.25 × timeoutMs
 * after it started) with one timer for all of them: a timer and a race per call would cost a
 * cache call on a fast network a good part of a round trip.
 */
export class CallDeadlines {
  private readonly pending = new Set<Pending>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly message: string,
  ) {
    this.timer = setInterval(() => this.expire(), Math.max(1, Math.floor(timeoutMs / 4)));
    this.timer.unref();
  }

  /** `work`, or a TimeoutError once its time is up (whatever `work` does later is ignored). */
  bound<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { deadline: Date.now() + this.timeoutMs, reject };
      this.pending.add(pending);
      work.then(
        (value) => {
          this.pending.delete(pending);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(pending);
          reject(error);
        },
      );
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private expire(): void {
    const now = Date.now();
    for (const pending of this.pending) {
      if (pending.deadline > now) continue;
      this.pending.delete(pending);
      pending.reject(new TimeoutError(this.message));
    }
  }
}
