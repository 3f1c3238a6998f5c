import { performance } from 'node:perf_hooks';
import { describeRedisError } from '@bancada/internal';
import {
  type ClientRateLimitInfo,
  MemoryStore,
  type Options,
  type Store,
} from 'express-rate-limit';
import type { OnRedisError } from './options.js';

/** What a rate limit set to fail closed throws while Redis fails: answered with a 503. */
export class RateLimitUnavailableError extends Error {
  readonly code = 'BANCADA_LIMITS_UNAVAILABLE' as const;
  readonly status = 503;

  constructor(cause: unknown) {
    super('the rate limit cannot be checked: Redis is unavailable', { cause });
    this.name = 'RateLimitUnavailableError';
  }
}

/** Told when Redis starts failing (with why) and when it answers again. */
export type StoreStateListener = (degraded: boolean, why?: string) => void;

/**
 * The rate limit's store: counts in Redis, and decides what happens while Redis fails
 * (`onRedisError`) by itself, rather than through express-rate-limit's passOnStoreError,
 * which lets every request through and logs each one.
 * - `'local'`: counts in this instance's memory. A login limit must not vanish because
 *   Redis blinked: each instance allows the limit on its own until Redis is back.
 * - `'open'`: lets requests through, uncounted.
 * - `'closed'`: throws RateLimitUnavailableError, which `rateLimit()` answers with a 503.
 */
export class FallbackStore implements Store {
  readonly localKeys = false;
  readonly prefix: string | undefined;
  private readonly local = new MemoryStore();
  private failing = false;
  private options: Options | undefined;
  /** The shared store's init run again after a failure (its scripts may never have loaded). */
  private reloading: Promise<void> | undefined;
  /** performance.now() of the last call sent to Redis while failing. */
  private lastProbe = 0;

  /**
   * `connected`: false while Redis is known to be away, so that calls skip a Redis that
   * cannot answer instead of each waiting for its timeout. `probeEveryMs`, for a connection
   * that stays up while a part of Redis is away (a Cluster whose master fails over): while
   * failing, one call in this time tries Redis, the others count here at once.
   */
  constructor(
    private readonly shared: Store,
    private readonly mode: OnRedisError,
    private readonly onChange: StoreStateListener,
    private readonly connected: () => boolean = () => true,
    private readonly probeEveryMs?: number,
  ) {
    this.prefix = shared.prefix;
  }

  /** True while Redis is away and `onRedisError` decides. */
  get degraded(): boolean {
    return this.failing && (this.probeEveryMs !== undefined || !this.connected());
  }

  /** While failing: true when this call should not try Redis. */
  private skipsRedis(): boolean {
    if (!this.connected()) return true;
    if (this.probeEveryMs === undefined) return false;
    const now = performance.now();
    if (now - this.lastProbe < this.probeEveryMs) return true;
    this.lastProbe = now;
    return false;
  }

  init(options: Options): void {
    this.options = options;
    this.local.init(options);
    // RedisStore's init loads its scripts, and every later call awaits that load: if Redis
    // is away at start, the first call fails, and the store is initialized again once Redis
    // is back (see either).
    void Promise.resolve(this.shared.init?.(options)).catch(() => {});
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.either(
      () => this.shared.get?.(key),
      () => this.local.get(key),
      undefined,
    );
  }

  increment(key: string): Promise<ClientRateLimitInfo> {
    return this.either(
      () => this.shared.increment(key),
      () => this.local.increment(key),
      // As the first hit of a fresh window: let through, and tell express-rate-limit so.
      { totalHits: 1, resetTime: new Date(Date.now() + (this.options?.windowMs ?? 60_000)) },
    );
  }

  async decrement(key: string): Promise<void> {
    // After the response: nothing to refuse any more, so never a 503 from here.
    await this.either(
      () => this.shared.decrement(key),
      () => this.local.decrement(key),
      undefined,
    ).catch(() => {});
  }

  async resetKey(key: string): Promise<void> {
    await Promise.allSettled([this.shared.resetKey(key), this.local.resetKey(key)]);
  }

  shutdown(): void {
    this.local.shutdown();
  }

  private async either<T>(
    shared: () => Promise<T> | T,
    local: () => Promise<T>,
    whenOpen: T,
  ): Promise<T> {
    if (this.failing && this.skipsRedis()) return this.fallBack(local, whenOpen, undefined);
    try {
      if (this.failing) await this.reinitialize();
      const result = await shared();
      if (this.failing) {
        this.failing = false;
        this.onChange(false);
      }
      return result;
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.lastProbe = performance.now();
        this.onChange(true, describeRedisError(error));
      }
      return this.fallBack(local, whenOpen, error);
    }
  }

  private reinitialize(): Promise<void> {
    const { init } = this.shared;
    if (init === undefined || this.options === undefined) return Promise.resolve();
    this.reloading ??= Promise.resolve(init.call(this.shared, this.options)).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private fallBack<T>(local: () => Promise<T>, whenOpen: T, error: unknown): Promise<T> {
    // Local counts are kept across a flapping Redis, and expire with their window.
    if (this.mode === 'local') return local();
    if (this.mode === 'open') return Promise.resolve(whenOpen);
    return Promise.reject(new RateLimitUnavailableError(error ?? 'redis is not connected'));
  }
}
