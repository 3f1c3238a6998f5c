/**
 * Where the shared tier stands, as one state:
 * - `starting`: the first connection attempt has not settled yet (`settled()` waits for it);
 * - `bypass`: Redis answers, but no invalidation reaches this instance (tracking is off,
 *   refused, or its connection is down), so local copies cannot be trusted: reads go to Redis;
 * - `coherent`: Redis answers and invalidations flow: the local tier may answer;
 * - `degraded`: Redis is out of reach: the local tier is the whole cache;
 * - `unreachable`: Redis is out of reach, and a replica may be promoted meanwhile (Sentinel)
 *   that other instances write to: local copies cannot be trusted either, reads miss.
 */
export type TierHealth = 'starting' | 'bypass' | 'coherent' | 'degraded' | 'unreachable';

/** Whether the local tier may answer while the shared tier is in this state. */
export function trustsLocal(health: TierHealth): boolean {
  return health === 'coherent' || health === 'degraded';
}

/** Whether Redis is out of reach in this state. */
export function outOfReach(health: TierHealth): boolean {
  return health === 'degraded' || health === 'unreachable';
}

/**
 * Keys whose local copies can no longer be trusted: a list, null for every key, or a test
 * (on a Redis Cluster: the keys of one node).
 */
export type Untrusted = string[] | null | ((key: string) => boolean);

export type UntrustedListener = (keys: Untrusted) => void;

/**
 * The shared tier as the cache sees it: stored text by key, and a health signal. The tier
 * owns its connections, its key prefix, its timeouts, what it remembers during an outage and
 * when it counts as reachable; the cache owns the local tier, single-flight loads, values and
 * stats. No method throws because of Redis: a failure is absorbed, counted in `failures`, and
 * reported as "no answer" (undefined or false), after which `health` says what it meant.
 */
export interface RemoteTier {
  /** Read on every call, so it is a field, not a computation. */
  readonly health: TierHealth;
  /**
   * While `coherent`, whether invalidations of this key reach us (on a Redis Cluster, each
   * node's do separately). Absent: every key's do.
   */
  trusts?(key: string): boolean;
  /** Commands of the methods below that Redis failed (the cache reports them as errors). */
  readonly failures: number;
  /** Resolves once the first connection attempt has settled, waiting at most the timeout. */
  settled(): Promise<void>;
  /**
   * Calls `listener` whenever local copies can no longer be trusted: a key changed in Redis
   * (by anyone), Redis was flushed, or Redis came back after an outage. Returns the unsubscribe.
   */
  onUntrusted(listener: UntrustedListener): () => void;
  /** The text stored under `key`, null when there is none, undefined when Redis could not say. */
  get(key: string): Promise<string | null | undefined>;
  /** Stores `text` for `ttlMs` (Infinity: no expiry); false when it was not stored. */
  set(key: string, text: string, ttlMs: number): Promise<boolean>;
  /** Whether the key existed; undefined when Redis could not say. */
  delete(key: string): Promise<boolean | undefined>;
  /** How many keys matching a glob were deleted; undefined when Redis could not say. */
  deleteMatching(glob: string): Promise<number | undefined>;
  /** Deletes every key of this cache; false when Redis could not do it now. */
  clear(): Promise<boolean>;
  /**
   * Runs `load` as the only instance loading `key`, when the tier has a load lock: while
   * another instance loads it, waits for that value with `read` and runs `load` only if none
   * comes. Without a lock, or when Redis cannot say, it just runs `load`.
   */
  lock<T>(key: string, load: () => Promise<T>, read: () => Promise<unknown>): Promise<T>;
  close(): Promise<void>;
}
