import { LRUCache } from 'lru-cache';
import { decode } from './serialize.js';

/**
 * A value this instance stored, kept as its JSON text until it is first read: a write does
 * not pay for decoding a copy that may never be read here.
 */
class Written {
  constructor(readonly text: string) {}
}

/**
 * The in-process tier (L1): an lru-cache of decoded, deeply frozen values. Alone (memory
 * mode, or Redis out of reach) it is the whole cache and each key's own TTL applies; in front
 * of Redis a copy lives at most `maxAgeMs`, a bound should an invalidation ever be lost.
 */
export class LocalTier {
  hits = 0;
  misses = 0;
  private readonly lru: LRUCache<string, NonNullable<unknown>>;

  /** `maxAgeMs`: 0 for no bound (memory mode). */
  constructor(
    maxEntries: number,
    private readonly maxAgeMs: number,
  ) {
    this.lru = new LRUCache({ max: maxEntries, ttl: maxAgeMs, allowStale: false });
  }

  get size(): number {
    return this.lru.size;
  }

  /** The value held for `key`, counted as a hit or a miss of this tier. */
  get(key: string): unknown {
    let value = this.lru.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (value instanceof Written) {
      value = decode(value.text) as object;
      this.lru.set(key, value, { noUpdateTTL: true });
    }
    return value;
  }

  /** Keeps a value just read from Redis (already frozen), for at most maxAgeMs. */
  keep(key: string, value: unknown): void {
    this.lru.set(key, value as object);
  }

  /**
   * Keeps a value just stored, as its JSON `text`: `alone`, when the local tier is the whole
   * cache, for its `ttlMs`; otherwise for at most maxAgeMs too.
   */
  store(key: string, text: string, ttlMs: number, alone: boolean): void {
    const ttl = alone || this.maxAgeMs === 0 ? ttlMs : Math.min(ttlMs, this.maxAgeMs);
    this.lru.set(key, new Written(text), { ttl: ttl === Infinity ? 0 : ttl });
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  /** Removes the keys matching `matches`; returns how many there were. */
  deleteMatching(matches: RegExp): number {
    return this.deleteWhere((key) => matches.test(key));
  }

  /** Removes the keys `test` picks; returns how many there were. */
  deleteWhere(test: (key: string) => boolean): number {
    let removed = 0;
    for (const key of [...this.lru.keys()]) {
      if (test(key) && this.lru.delete(key)) removed++;
    }
    return removed;
  }

  clear(): void {
    this.lru.clear();
  }
}
