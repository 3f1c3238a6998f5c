import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';

/** What rebuildShardSubscribers uses of ioredis's Cluster internals. */
interface SubscriberGroup {
  reset(slots: string[][], nodes: unknown[]): Promise<void>;
}
interface NodePool {
  getNodes(role: 'all'): unknown[];
}

/**
 * After a shard subscription failed (no subscriber for its master, one that never
 * connected): the subscriber reads the slot map again, and ioredis makes the subscribers
 * that are missing or broken anew.
 */
export function rebuildShardSubscribers(sub: Cluster): void {
  sub.refreshSlotsCache();
  // ioredis rebuilds its shard subscribers only when a slot refresh ends; one that is never
  // made for a master (seen under load: "No sharded subscriber for slot") stays missing while
  // refreshes are skipped. Its subscriber group rebuilds the missing ones when asked: ask it
  // here too (an internal of ioredis 5, used only if present).
  const group = (sub as unknown as { shardedSubscribers?: SubscriberGroup }).shardedSubscribers;
  const pool = (sub as unknown as { connectionPool?: NodePool }).connectionPool;
  if (typeof group?.reset === 'function' && typeof pool?.getNodes === 'function') {
    group.reset(sub.slots, pool.getNodes('all')).catch(() => {});
  }
}

/** The master that serves a channel's slot now, as the subscriber's slot map says. */
export function ownerOf(sub: Cluster, channel: string): string | undefined {
  return sub.slots[calculateSlot(channel)]?.[0];
}
