import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';

/** What ShardSubscribers uses of ioredis's Cluster internals. */
interface SubscriberGroup {
  isResetting?: boolean;
  pendingReset?: unknown;
  reset(slots: string[][], nodes: unknown[]): Promise<void>;
}
interface NodePool {
  getNodes(role: 'all'): unknown[];
}

/** How often a rebuild of the subscribers may be asked for: each reads the slot map. */
const REBUILD_AT_MOST_EVERY_MS = 1000;
/** How long a rebuild of ioredis's may be under way before it counts as stuck (see rebuild). */
const STUCK_REBUILD_MS = 2000;

/**
 * What the bus needs of ioredis's shard subscribers (one connection per master): which
 * master a channel's slot has now, and, after a shard subscription failed, the subscribers
 * made anew.
 */
export class ShardSubscribers {
  private lastRebuild = 0;
  /** When a rebuild of ioredis's was first seen under way, until one is seen done. */
  private rebuildingSince: number | undefined;

  constructor(private readonly sub: Cluster) {}

  /** The master that serves a channel's slot now, as the subscriber's slot map says. */
  ownerOf(channel: string): string | undefined {
    return this.sub.slots[calculateSlot(channel)]?.[0];
  }

  /**
   * After a shard subscription failed (no subscriber for its master, one that never
   * connected): the subscriber reads the slot map again, and ioredis makes the subscribers
   * that are missing or broken anew. At most once a second, whoever asks.
   */
  rebuild(): void {
    const now = Date.now();
    if (now - this.lastRebuild < REBUILD_AT_MOST_EVERY_MS) return;
    this.lastRebuild = now;
    this.sub.refreshSlotsCache();
    // ioredis rebuilds its shard subscribers only when a slot refresh ends; one that is
    // never made for a master (seen under load: "No sharded subscriber for slot") stays
    // missing while refreshes are skipped. Its subscriber group rebuilds the missing ones
    // when asked: asked here too (an internal of ioredis 5, used only if present), unless a
    // rebuild is under way (one asked for meanwhile would be chained after it).
    const group = (this.sub as unknown as { shardedSubscribers?: SubscriberGroup })
      .shardedSubscribers;
    const pool = (this.sub as unknown as { connectionPool?: NodePool }).connectionPool;
    if (typeof group?.reset !== 'function' || typeof pool?.getNodes !== 'function') return;
    if (group.isResetting === true) {
      // In ioredis 5.11 a rebuild waits for ever on a subscriber that the client stopped
      // while it connected (the client reconnects at start, or after losing every node), and
      // no rebuild runs after it: every shard subscription fails from then on. (ioredis 6.1
      // no longer waits.) One under way that long is let go, and a new one made.
      this.rebuildingSince ??= now;
      if (now - this.rebuildingSince < STUCK_REBUILD_MS) return;
      group.isResetting = false;
      group.pendingReset = null;
    }
    this.rebuildingSince = undefined;
    group.reset(this.sub.slots, pool.getNodes('all')).catch(() => {});
  }
}

/** How long the bus waits before it tries a failed shard subscription again. */
export function retryDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** attempt, 1000);
}
