import { randomBytes } from 'node:crypto';
import { sleep } from '@bancada/internal';
import type { Redis } from 'ioredis';

// Deletes the lock only if it is still ours: a loader slower than ttlMs must not free the
// lock a later holder took.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Options of the cross-instance load lock. */
export interface LoadLockOptions {
  /** How long a lock holds at most (a loader that dies is forgotten after this). */
  ttlMs: number;
  /** How long another instance waits for the holder's value before loading itself. */
  waitMs: number;
}

/**
 * A short Redis lock around a getOrSet loader, so that when several instances miss the same
 * key at once only one runs the loader and the others wait for its value.
 */
export class LoadLock {
  constructor(
    private readonly redis: Redis,
    private readonly options: LoadLockOptions,
  ) {}

  /** Lock keys live outside the cache's prefix, so clear() and deletePattern() skip them. */
  private lockKey(fullKey: string): string {
    return `bancada:load-lock:${fullKey}`;
  }

  /** Takes the lock; resolves a release function, or undefined if another instance holds it. */
  async acquire(fullKey: string): Promise<(() => Promise<void>) | undefined> {
    const token = randomBytes(8).toString('hex');
    const key = this.lockKey(fullKey);
    const taken = await this.redis.set(key, token, 'PX', this.options.ttlMs, 'NX');
    if (taken !== 'OK') return undefined;
    return async () => {
      await this.redis.eval(RELEASE, 1, key, token).catch(() => {});
    };
  }

  /**
   * Waits for the holder to store a value (polling, since the holder is usually quick), and
   * gives up when the lock is gone or `waitMs` has passed.
   */
  async waitForValue(fullKey: string, read: () => Promise<unknown>): Promise<unknown> {
    const deadline = Date.now() + this.options.waitMs;
    const key = this.lockKey(fullKey);
    while (Date.now() < deadline) {
      await sleep(20);
      const value = await read();
      if (value !== undefined) return value;
      if ((await this.redis.exists(key)) === 0) return read();
    }
    return undefined;
  }
}
