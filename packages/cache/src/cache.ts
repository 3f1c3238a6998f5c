import { checkKey, checkTtl } from './arguments.js';
import { CacheClosedError } from './errors.js';
import { type Flight, Flights } from './flights.js';
import { globToRegExp } from './glob.js';
import { LocalTier } from './local-tier.js';
import type { ResolvedCacheOptions } from './options.js';
import { outOfReach, type RemoteTier, trustsLocal, type Untrusted } from './remote-tier.js';
import { decode, encode } from './serialize.js';
import { SingleFlight } from './single-flight.js';
import type { Cache, CacheMode, CacheStats } from './types.js';

/**
 * Lookups (hits, misses) count once per caller; the shared tier's counters count what it
 * answered. (The local tier counts its own, and the shared tier its failures.)
 */
interface Counters {
  hits: number;
  misses: number;
  l2Hits: number;
  l2Misses: number;
  sets: number;
  deletes: number;
  /** Values under our prefix that were not JSON. */
  unreadable: number;
}

/**
 * The cache: a local tier alone in memory mode; in Redis mode a local tier (L1) in front of
 * a shared tier (L2) that it reaches only through the RemoteTier interface. Local hits return
 * the stored object itself, deeply frozen: no copy and no allocation per hit, and a caller
 * that mutates it by mistake gets a TypeError.
 */
export class TwoTierCache implements Cache {
  readonly mode: CacheMode;
  private readonly l1: LocalTier | undefined;
  private readonly flights = new Flights();
  private readonly loads = new SingleFlight();
  private readonly counters: Counters = {
    hits: 0,
    misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    sets: 0,
    deletes: 0,
    unreadable: 0,
  };
  private closed = false;
  private readonly closeHooks: Array<() => void> = [];

  constructor(
    private readonly options: ResolvedCacheOptions,
    private readonly tier: RemoteTier | undefined,
  ) {
    this.mode = tier ? 'redis' : 'memory';
    const l1 = options.l1;
    this.l1 = l1 ? new LocalTier(l1.maxEntries, tier ? l1.maxAgeSeconds * 1000 : 0) : undefined;
    tier?.onUntrusted((keys) => this.forget(keys));
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
    return this.loads.run(key, () => this.loadThrough(key, loader, ttlSeconds));
  }

  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    checkKey(key);
    if (ttlSeconds !== undefined) checkTtl(ttlSeconds);
    if (this.closed) throw new CacheClosedError();
    const text = encode(key, value);
    const ttlMs = this.ttlMs(ttlSeconds ?? this.options.defaultTtlSeconds);
    this.counters.sets++;
    const tier = this.tier;
    if (tier === undefined) {
      this.writeLocal(key, text, ttlMs, true);
      return;
    }
    // A flight starts once Redis can be asked: the drop of the whole local tier that ends
    // the start must not mark this write stale.
    if (tier.health === 'starting') await tier.settled();
    const flight = this.flights.start(key);
    const stored = await tier.set(key, text, ttlMs);
    this.flights.end(key, flight);
    if (stored) {
      if (!flight.stale) this.writeLocal(key, text, ttlMs, false);
    } else if (tier.health === 'degraded') {
      // Redis is out of reach: the local tier is the whole cache (the tier replays the key
      // as a delete when Redis is back).
      this.writeLocal(key, text, ttlMs, true);
    } else {
      // A refused write (a reply error) must not leave this instance alone with a value
      // nobody else can see.
      this.l1?.delete(key);
    }
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    if (this.closed) throw new CacheClosedError();
    this.counters.deletes++;
    const existedLocally = this.l1?.delete(key) ?? false;
    const tier = this.tier;
    if (tier === undefined) return existedLocally;
    this.flights.abandon(key);
    const existed = await tier.delete(key);
    if (existed === undefined) return existedLocally;
    // A read that slipped in before the UNLINK went out may have refilled the local tier.
    this.l1?.delete(key);
    this.flights.abandon(key);
    return existed;
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
    const removed = await tier.deleteMatching(glob);
    if (removed === undefined) return removedLocally;
    // Reads made while SCAN and UNLINK went back and forth may have put old values back
    // locally, and our own deletes send us no invalidation (NOLOOP): drop them again.
    this.dropLocalMatching(matches);
    this.counters.deletes += removed;
    return removed;
  }

  async clear(): Promise<void> {
    if (this.closed) throw new CacheClosedError();
    this.forget(null);
    // As in deletePattern: reads made meanwhile may have refilled the local tier.
    if (this.tier && (await this.tier.clear())) this.forget(null);
  }

  getStats(): CacheStats {
    const c = this.counters;
    const l1 = this.l1;
    return {
      mode: this.mode,
      degraded: this.tier !== undefined && outOfReach(this.tier.health),
      hits: c.hits,
      misses: c.misses,
      hitRate: c.hits + c.misses === 0 ? 0 : c.hits / (c.hits + c.misses),
      l1: { hits: l1?.hits ?? 0, misses: l1?.misses ?? 0, size: l1?.size ?? 0 },
      l2: this.tier ? { hits: c.l2Hits, misses: c.l2Misses } : null,
      sets: c.sets,
      deletes: c.deletes,
      errors: c.unreadable + (this.tier?.failures ?? 0),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.forget(null);
    for (const hook of this.closeHooks.splice(0)) hook();
    await this.tier?.close();
  }

  /** Runs `hook` when the cache closes (used to stop reporting metrics). */
  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  /** Drops local copies that can no longer be trusted (null: all), and what is on its way. */
  private forget(keys: Untrusted): void {
    if (keys === null) {
      this.l1?.clear();
      this.flights.abandonAll();
      return;
    }
    if (typeof keys === 'function') {
      this.l1?.deleteWhere(keys);
      this.flights.abandonWhere(keys);
      return;
    }
    for (const key of keys) {
      this.l1?.delete(key);
      this.flights.abandon(key);
    }
  }

  /** Removes matching keys from the local tier and abandons their flights; returns the count. */
  private dropLocalMatching(matches: RegExp): number {
    const removed = this.l1?.deleteMatching(matches) ?? 0;
    this.flights.abandonMatching(matches);
    return removed;
  }

  /**
   * Whether the local tier may answer for `key` now: always alone, in front of Redis as its
   * health says and, while coherent, as far as invalidations of the key reach us.
   */
  private localTrusted(key: string): boolean {
    const tier = this.tier;
    if (tier === undefined) return true;
    const health = tier.health;
    if (health === 'coherent') return tier.trusts === undefined || tier.trusts(key);
    return trustsLocal(health);
  }

  /** The local answer, when the local tier may answer at all. */
  private readLocal(key: string): unknown {
    const l1 = this.l1;
    if (l1 === undefined || !this.localTrusted(key)) return undefined;
    const value = l1.get(key);
    if (value !== undefined) this.counters.hits++;
    return value;
  }

  /** Reads one key from Redis; concurrent reads of a key share one GET. */
  private readRemote(key: string): Promise<unknown> | undefined {
    const tier = this.tier;
    if (tier === undefined) return undefined;
    const health = tier.health;
    if (outOfReach(health)) return undefined;
    if (health === 'starting') {
      return tier
        .settled()
        .then(() => (tier.health === 'starting' ? undefined : this.readRemote(key)));
    }
    const pending = this.flights.readOf(key);
    if (pending) return pending;
    const flight = this.flights.start(key);
    flight.read = this.fetch(tier, key, flight);
    return flight.read;
  }

  private async fetch(tier: RemoteTier, key: string, flight: Flight): Promise<unknown> {
    const text = await tier.get(key);
    this.flights.end(key, flight);
    if (text === undefined) return undefined; // Redis could not say; the tier counted it
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
      this.counters.unreadable++;
      this.counters.l2Misses++;
      return undefined;
    }
    this.counters.l2Hits++;
    if (!flight.stale && this.localTrusted(key)) this.l1?.keep(key, value);
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
    const load = async () => {
      const value = await loader();
      if (value !== undefined) await this.set(key, value, ttlSeconds);
      return value;
    };
    // Across instances, one loader per key when the tier has a load lock.
    if (this.tier === undefined) return load();
    return this.tier.lock(key, load, async () => this.readRemote(key));
  }

  /**
   * Keeps the value stored as `text` locally (decoded when first read); `alone` when the
   * local tier is the whole cache (memory mode, degraded).
   */
  private writeLocal(key: string, text: string, ttlMs: number, alone: boolean): void {
    const l1 = this.l1;
    if (l1 === undefined) return;
    if (!this.localTrusted(key)) l1.delete(key);
    else l1.store(key, text, ttlMs, alone);
  }

  private ttlMs(ttlSeconds: number): number {
    if (ttlSeconds === Infinity) return Infinity;
    const jitter = this.options.ttlJitter;
    const ms = ttlSeconds * 1000 * (jitter > 0 ? 1 - Math.random() * jitter : 1);
    return Math.max(1, Math.round(ms));
  }
}
