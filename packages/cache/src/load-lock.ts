import { randomBytes } from 'node:crypto';
import { sleep } from '@bancada/internal';
import type { Cluster, Redis } from 'ioredis';

// Deletes the lock only if it is still ours: a loader slower than ttlMs must not free the
// lock a later owner took.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Options of the cross-instance load lock. */
export interface LoadLockOptions {
  /** How long a lock lasts at most (a loader that dies is forgotten after this). */
  ttlMs: number;
  /** How long another instance waits for the owner's value before loading itself. */
  waitMs: number;
}

/**
 * A short Redis lock around a getOrSet loader, so that when several instances miss the same
 * key at once only one runs the loader and the others wait for its value.
 */
export class LoadLock {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: LoadLockOptions,
  ) {}

  /**
   * Runs `load` owning the lock of `fullKey`. If another instance owns it, waits for its
   * value with `read` and runs `load` (without the lock) only if none comes. If Redis cannot
   * say who owns it, runs `load` without a lock: a lock must never stop a load.
   */
  async run<T>(fullKey: string, load: () => Promise<T>, read: () => Promise<unknown>): Promise<T> {
    // Lock keys live outside the cache's prefix, so clear() and deletePattern() skip them.
    // Each command and the release script touch only the lock key, so on a Redis Cluster the
    // lock and the value may live on different nodes.
    const lockKey = `bancada:load-lock:${fullKey}`;
    const token = randomBytes(8).toString('hex');
    let taken: boolean;
    try {
      taken = (await this.redis.set(lockKey, token, 'PX', this.options.ttlMs, 'NX')) === 'OK';
    } catch {
      return load();
    }
    if (!taken) {
      const value = await this.waitForValue(lockKey, read).catch(() => undefined);
      return value !== undefined ? (value as T) : load();
    }
    try {
      return await load();
    } finally {
      await this.redis.eval(RELEASE, 1, lockKey, token).catch(() => {});
    }
  }

  /**
   * Waits for the owner to store a value (polling, since the owner is usually quick), and
   * gives up when the lock is gone or `waitMs` has passed.
   */
  private async waitForValue(lockKey: string, read: () => Promise<unknown>): Promise<unknown> {
    const deadline = Date.now() + this.options.waitMs;
    while (Date.now() < deadline) {
      await sleep(20);
      const value = await read();
      if (value !== undefined) return value;
      if ((await this.redis.exists(lockKey)) === 0) return read();
    }
    return undefined;
  }
}
