import { LRUCache } from 'lru-cache';
import { CacheArgumentError, CacheClosedError } from './errors.js';
import { globToRegExp } from './glob.js';
import { LoadLock } from './load-lock.js';
import type { ResolvedCacheOptions } from './options.js';
import type { RedisTier } from './redis-tier.js';
import { decode, deepFreeze, encode } from './serialize.js';
import type { Cache, CacheMode, CacheStats } from './types.js';

/**
 * A read or write of one key that is on its way to Redis. An invalidation of the key that
 * arrives meanwhile marks it stale, so the reply, which may predate the change, is returned
 * to its caller but not kept in the local tier.
 */
interface Flight {
  stale: boolean;
  read?: Promise<unknown>;
}

/** Lookups (hits, misses) count once per caller; tier counters count what each tier answered. */
interface Counters {
  hits: number;
  misses: number;
  l1Hits: number;
  l1Misses: number;
  l2Hits: number;
  l2Misses: number;
  sets: number;
  deletes: number;
  errors: number;
}

/**
 * The cache: one lru-cache in memory mode; in Redis mode an lru-cache (L1) in front of
 * Redis (L2). Local hits return the stored object itself, deeply frozen: no copy and no
 * allocation per hit, and a caller that mutates it by mistake gets a TypeError.
 */
export class TwoTierCache implements Cache {
  readonly mode: CacheMode;
  private readonly l1: LRUCache<string, NonNullable<unknown>> | undefined;
  private readonly l1MaxAgeMs: number;
  private readonly flights = new Map<string, Flight>();
  private readonly loads = new Map<string, Promise<unknown>>();
  private readonly counters: Counters = {
    hits: 0,
    misses: 0,
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    sets: 0,
    deletes: 0,
    errors: 0,
  };
  private closed = false;
  private readonly closeHooks: Array<() => void> = [];
  private readonly lock: LoadLock | undefined;

  constructor(
    private readonly options: ResolvedCacheOptions,
    private readonly tier: RedisTier | undefined,
  ) {
    this.mode = tier ? 'redis' : 'memory';
    const l1 = options.l1;
    this.l1MaxAgeMs = tier && l1 ? l1.maxAgeSeconds * 1000 : 0;
    this.l1 = l1
      ? new LRUCache({ max: l1.maxEntries, ttl: this.l1MaxAgeMs, allowStale: false })
      : undefined;
    this.lock = tier && options.lock ? new LoadLock(tier.client, options.lock) : undefined;
  }

  /** Called by the Redis tier: these keys changed elsewhere (null: any key may have). */
  invalidate(keys: string[] | null): void {
    if (keys === null) {
      this.l1?.clear();
      for (const flight of this.flights.values()) flight.stale = true;
      this.flights.clear();
      return;
    }
    for (const key of keys) {
      this.l1?.delete(key);
      const flight = this.flights.get(key);
      if (flight) {
        flight.stale = true;
        this.flights.delete(key);
      }
    }
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    checkKey(key);
    if (this.closed) throw new CacheClosedError();
    const local = this.readLocal(key);
    if (local !== undefined) return local as T;
    const value = await this.readRemote(key);
    if (value === undefined) this.counters.misses++;
    else this.counters.hits++;
    return value as T | undefined;
  }

  async getOrSet<T>(key: string, loader: () => T | Promise<T>, ttlSeconds?: number): Promise<T> {
    checkKey(key);
    if (ttlSeconds !== undefined) checkTtl(ttlSeconds);
    if (typeof loader !== 'function') {
      throw new TypeError(`getOrSet("${key}") needs a loader function, got ${typeof loader}`);
    }
    if (this.closed) throw new CacheClosedError();
    const local = this.readLocal(key);
    if (local !== undefined) return local as T;
    // One lookup-then-load per key at a time: a second caller joins the first instead of
    // missing in Redis just before the first caller's value lands there.
    let load = this.loads.get(key);
    if (load === undefined) {
      load = this.loadThrough(key, loader, ttlSeconds);
      this.loads.set(key, load);
      const forget = () => {
        if (this.loads.get(key) === load) this.loads.delete(key);
      };
      load.then(forget, forget);
    }
    return load as Promise<T>;
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    checkKey(key);
    if (ttlSeconds !== undefined) checkTtl(ttlSeconds);
    if (this.closed) throw new CacheClosedError();
    const text = encode(key, value);
    const ttlMs = this.ttlMs(ttlSeconds ?? this.options.defaultTtlSeconds);
    this.counters.sets++;
    const tier = this.tier;
    if (tier === undefined || !(await this.remoteReady(tier))) {
      tier?.remember({ key });
      this.writeLocal(key, decode(text), ttlMs, true);
      return;
    }
    const flight = this.startFlight(key);
    tier.batchWrites();
    try {
      if (ttlMs === Infinity) await tier.client.set(tier.prefix + key, text);
      else await tier.client.set(tier.prefix + key, text, 'PX', ttlMs);
    } catch (error) {
      this.endFlight(key, flight);
      this.counters.errors++;
      tier.failed(error, { key });
      // Degraded now: keep the value locally. A refused write (a reply error) must not
      // leave this instance alone with a value nobody else can see.
      if (tier.degraded) this.writeLocal(key, decode(text), ttlMs, true);
      else this.l1?.delete(key);
      return;
    }
    this.endFlight(key, flight);
    if (!flight.stale) this.writeLocal(key, decode(text), ttlMs, false);
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    if (this.closed) throw new CacheClosedError();
    this.counters.deletes++;
    const existedLocally = this.l1?.delete(key) ?? false;
    const tier = this.tier;
    if (tier === undefined) return existedLocally;
    this.abandonFlight(key);
    if (!(await this.remoteReady(tier))) {
      tier.remember({ key });
      return existedLocally;
    }
    tier.batchWrites();
    try {
      const removed = await tier.client.unlink(tier.prefix + key);
      // A read that slipped in before the UNLINK went out may have refilled the local tier.
      this.l1?.delete(key);
      this.abandonFlight(key);
      return removed > 0;
    } catch (error) {
      this.counters.errors++;
      tier.failed(error, { key });
      return existedLocally;
    }
  }

  async deletePattern(glob: string): Promise<number> {
    const matches = globToRegExp(glob);
    if (this.closed) throw new CacheClosedError();
    const removedLocally = this.dropLocalMatching(matches);
    const tier = this.tier;
    if (tier === undefined) {
      this.counters.deletes += removedLocally;
      return removedLocally;
    }
    if (!(await this.remoteReady(tier))) {
      tier.remember({ pattern: glob });
      return removedLocally;
    }
    try {
      const removed = await tier.unlinkMatching(glob);
      // Reads made while SCAN and UNLINK went back and forth may have put old values back
      // locally, and our own deletes send us no invalidation (NOLOOP): drop them again.
      this.dropLocalMatching(matches);
      this.counters.deletes += removed;
      return removed;
    } catch (error) {
      this.counters.errors++;
      tier.failed(error, { pattern: glob });
      return removedLocally;
    }
  }

  async clear(): Promise<void> {
    if (this.closed) throw new CacheClosedError();
    this.invalidate(null);
    const tier = this.tier;
    if (tier === undefined) return;
    if (!(await this.remoteReady(tier))) {
      tier.remember({ all: true });
      return;
    }
    try {
      await tier.unlinkMatching('*');
      this.invalidate(null); // as in deletePattern: reads meanwhile may have refilled it
    } catch (error) {
      this.counters.errors++;
      tier.failed(error, { all: true });
    }
  }

  getStats(): CacheStats {
    const c = this.counters;
    return {
      mode: this.mode,
      degraded: this.tier?.degraded ?? false,
      hits: c.hits,
      misses: c.misses,
      hitRate: c.hits + c.misses === 0 ? 0 : c.hits / (c.hits + c.misses),
      l1: { hits: c.l1Hits, misses: c.l1Misses, size: this.l1?.size ?? 0 },
      l2: this.tier ? { hits: c.l2Hits, misses: c.l2Misses } : null,
      sets: c.sets,
      deletes: c.deletes,
      errors: c.errors,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.invalidate(null);
    for (const hook of this.closeHooks.splice(0)) hook();
    await this.tier?.close();
  }

  /** Runs `hook` when the cache closes (used to stop reporting metrics). */
  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  /** Removes matching keys from the local tier and abandons their flights; returns the count. */
  private dropLocalMatching(matches: RegExp): number {
    let removed = 0;
    if (this.l1) {
      for (const key of [...this.l1.keys()]) {
        if (matches.test(key) && this.l1.delete(key)) removed++;
      }
    }
    for (const key of [...this.flights.keys()]) if (matches.test(key)) this.abandonFlight(key);
    return removed;
  }

  /** The local answer, when the local tier may answer at all (see RedisTier.serveLocal). */
  private readLocal(key: string): unknown {
    const l1 = this.l1;
    if (l1 === undefined || (this.tier !== undefined && !this.tier.serveLocal)) return undefined;
    const value = l1.get(key);
    if (value === undefined) {
      this.counters.l1Misses++;
    } else {
      this.counters.l1Hits++;
      this.counters.hits++;
    }
    return value;
  }

  /** Reads one key from Redis; concurrent reads of a key share one GET. */
  private readRemote(key: string): Promise<unknown> | undefined {
    const tier = this.tier;
    if (tier === undefined) return undefined;
    if (!tier.usable) {
      if (!tier.isStarting) return undefined;
      return tier.whenStarted().then(() => (tier.usable ? this.readRemote(key) : undefined));
    }
    const pending = this.flights.get(key)?.read;
    if (pending) return pending;
    const flight = this.startFlight(key);
    flight.read = this.fetch(tier, key, flight);
    return flight.read;
  }

  private async fetch(tier: RedisTier, key: string, flight: Flight): Promise<unknown> {
    let text: string | null;
    tier.batchWrites();
    try {
      text = await tier.client.get(tier.prefix + key);
    } catch (error) {
      this.endFlight(key, flight);
      this.counters.errors++;
      tier.failed(error);
      return undefined;
    }
    this.endFlight(key, flight);
    if (text === null) {
      this.counters.l2Misses++;
      return undefined;
    }
    let value: unknown;
    try {
      // Only values kept in the local tier are shared between callers, so only they are frozen.
      value = this.l1 ? decode(text) : JSON.parse(text);
    } catch {
      // Someone stored text that is not JSON under our prefix: report it, serve a miss.
      this.counters.errors++;
      this.counters.l2Misses++;
      return undefined;
    }
    this.counters.l2Hits++;
    if (!flight.stale && tier.serveLocal && this.l1) this.l1.set(key, value as object);
    return value;
  }

  private async loadThrough<T>(
    key: string,
    loader: () => T | Promise<T>,
    ttlSeconds: number | undefined,
  ): Promise<T> {
    const cached = await this.readRemote(key);
    if (cached !== undefined) {
      this.counters.hits++;
      return cached as T;
    }
    this.counters.misses++;
    const release = await this.lockLoad(key);
    if (release === 'wait') {
      const fullKey = this.tier!.prefix + key;
      const value = await this.lock!.waitForValue(fullKey, async () => this.readRemote(key)).catch(
        () => undefined,
      );
      if (value !== undefined) return value as T;
    }
    try {
      const value = await loader();
      if (value !== undefined) await this.set(key, value, ttlSeconds);
      return value;
    } finally {
      if (typeof release === 'function') await release();
    }
  }

  /**
   * With the lock option: a release function when this instance should load, 'wait' when
   * another instance is loading. Without it, or if Redis cannot say, load without a lock.
   */
  private async lockLoad(key: string): Promise<(() => Promise<void>) | 'wait' | undefined> {
    if (this.lock === undefined || !this.tier?.usable) return undefined;
    try {
      return (await this.lock.acquire(this.tier.prefix + key)) ?? 'wait';
    } catch {
      return undefined;
    }
  }

  /** Keeps a value locally: in memory mode for its TTL, in Redis mode for at most l1.maxAgeSeconds. */
  private writeLocal(key: string, value: unknown, ttlMs: number, degraded: boolean): void {
    const l1 = this.l1;
    if (l1 === undefined) return;
    if (this.tier !== undefined && !this.tier.serveLocal) {
      l1.delete(key);
      return;
    }
    // While degraded the local tier is the whole cache, so the key's own TTL applies.
    const cap = this.tier === undefined || degraded ? Infinity : this.l1MaxAgeMs;
    const ttl = Math.min(ttlMs, cap);
    l1.set(key, deepFreeze(value) as object, { ttl: ttl === Infinity ? 0 : ttl });
  }

  private startFlight(key: string): Flight {
    const flight: Flight = { stale: false };
    const previous = this.flights.get(key);
    // A newer operation on the key supersedes an older one still on its way.
    if (previous) previous.stale = true;
    this.flights.set(key, flight);
    return flight;
  }

  private endFlight(key: string, flight: Flight): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }

  private abandonFlight(key: string): void {
    const flight = this.flights.get(key);
    if (flight) {
      flight.stale = true;
      this.flights.delete(key);
    }
  }

  private async remoteReady(tier: RedisTier): Promise<boolean> {
    if (tier.usable) return true;
    if (tier.isStarting) await tier.whenStarted();
    return tier.usable;
  }

  private ttlMs(ttlSeconds: number): number {
    if (ttlSeconds === Infinity) return Infinity;
    const jitter = this.options.ttlJitter;
    const ms = ttlSeconds * 1000 * (jitter > 0 ? 1 - Math.random() * jitter : 1);
    return Math.max(1, Math.round(ms));
  }
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_KEY',
      `cache keys must be non-empty strings, got ${typeof key === 'string' ? '""' : typeof key}`,
    );
  }
}

function checkTtl(ttlSeconds: unknown): asserts ttlSeconds is number {
  if (typeof ttlSeconds !== 'number' || Number.isNaN(ttlSeconds) || ttlSeconds <= 0) {
    throw new CacheArgumentError(
      'BANCADA_CACHE_INVALID_TTL',
      `ttlSeconds must be a positive number of seconds or Infinity, got ${String(ttlSeconds)}` +
        (ttlSeconds === 0 ? ' (to remove a key, use delete())' : ''),
    );
  }
}
