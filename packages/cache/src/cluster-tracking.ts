import type { Logger } from '@bancada/internal';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { keySlot } from './key-slot.js';
import type { Untrusted } from './remote-tier.js';
import { Tracking } from './tracking.js';

/** What the tracking of a whole cluster tells the tier that owns it. */
export interface ClusterTrackingEvents {
  /** Local copies of these keys (without prefix) can no longer be trusted. */
  untrusted(keys: Untrusted): void;
  /** A node is about to be trusted again: replay what changed here while it was not. */
  beforeTrust(): Promise<void>;
  error(where: string, error: Error): void;
}

/**
 * Client-side-caching invalidations on a Redis Cluster, where tracking is per node: on every
 * master, the cluster client's own connection to it has its tracking pointed at a subscriber
 * connection to the same node (NodeTracking). It follows the topology (the cluster client's
 * 'refresh', '+node' and '-node'): a new master gets its pair, a former one loses it.
 *
 * A key's local copy is trusted only while the master that serves its slot has working
 * tracking; when either connection of a node is lost, or the node stops being a master, its
 * keys are dropped locally and read from Redis until its tracking is back.
 */
export class ClusterTracking {
  private readonly byNode = new Map<string, NodeTracking>();
  /** Every master of the slot map has working tracking: no key needs looking at. */
  private everyNodeTrusted = false;
  private slotMap = '';
  private closed = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly timeoutMs: number,
    private readonly fullPrefix: string,
    private readonly logger: Logger,
    private readonly events: ClusterTrackingEvents,
  ) {
    const follow = () => this.follow();
    for (const event of ['ready', 'refresh', '+node', '-node']) cluster.on(event, follow);
  }

  /** Whether invalidations of `key` (without prefix) reach us now. */
  trusts(key: string): boolean {
    if (this.everyNodeTrusted) return true;
    const owner = this.cluster.slots[keySlot(this.fullPrefix + key)]?.[0];
    return owner !== undefined && this.byNode.get(owner)?.trusted === true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.byNode.values()].map((node) => node.close()));
    this.byNode.clear();
  }

  /** Gives every master (and only masters) a tracking pair on the cluster client's connection. */
  private follow(): void {
    if (this.closed || this.cluster.status !== 'ready') return;
    const masters = new Map<string, Redis>();
    for (const node of this.cluster.nodes('master')) {
      masters.set(`${node.options.host}:${node.options.port}`, node);
    }
    for (const [key, tracking] of this.byNode) {
      if (masters.has(key)) continue;
      this.byNode.delete(key);
      void tracking.close();
    }
    for (const [key, node] of masters) {
      let tracking = this.byNode.get(key);
      if (tracking === undefined) {
        tracking = new NodeTracking(key, this.nodeEnv(node));
        this.byNode.set(key, tracking);
      }
      tracking.attach(node);
    }
    // A slot now served by another node: whatever was kept of it came through the old one.
    const slotMap = this.cluster.slots.map((nodes) => nodes[0]).join();
    if (this.slotMap !== '' && slotMap !== this.slotMap) this.events.untrusted(null);
    this.slotMap = slotMap;
    this.trustChanged();
  }

  private nodeEnv(node: Redis): NodeEnv {
    return {
      subscriberSource: {
        ...this.cluster.options.redisOptions,
        host: node.options.host,
        port: node.options.port,
      },
      timeoutMs: this.timeoutMs,
      fullPrefix: this.fullPrefix,
      logger: this.logger,
      events: this.events,
      // Before a node is trusted, and once it is not, what it served may be stale here.
      dropUntrusted: () => this.events.untrusted((key) => !this.trusts(key)),
      trustChanged: () => this.trustChanged(),
    };
  }

  private trustChanged(): void {
    const owners = new Set(this.cluster.slots.map((nodes) => nodes[0]));
    this.everyNodeTrusted =
      this.cluster.slots.length === 16384 &&
      !owners.has(undefined) &&
      [...owners].every((owner) => this.byNode.get(owner!)?.trusted === true);
  }
}

/** What a NodeTracking needs from the cluster's tracking. */
interface NodeEnv {
  subscriberSource: RedisOptions;
  timeoutMs: number;
  fullPrefix: string;
  logger: Logger;
  events: ClusterTrackingEvents;
  dropUntrusted(): void;
  trustChanged(): void;
}

/**
 * The tracking of one master: its subscriber (a Tracking of its own) and the cluster client's
 * connection to the node, whose tracking points at it. Trusted only while both are up and
 * linked; it links them again after either reconnects (the cluster client replaces a lost
 * node connection with a new one, which attach() receives).
 */
class NodeTracking {
  trusted = false;
  private node: Redis | undefined;
  private readonly tracking: Tracking;
  private enabling = false;
  private enableAgain = false;
  private closed = false;

  constructor(
    private readonly key: string,
    private readonly env: NodeEnv,
  ) {
    this.tracking = new Tracking(env.subscriberSource, env.timeoutMs, env.fullPrefix, env.logger, {
      subscribed: () => void this.enable(),
      disconnected: () => this.distrust(),
      changed: (keys) => env.events.untrusted(keys),
      error: (where, error) => env.events.error(`node ${key} ${where}`, error),
    });
  }

  /** The cluster client's current connection to this node (the same one, or its replacement). */
  attach(node: Redis): void {
    if (this.node === node) return;
    this.node = node;
    node.once('close', () => {
      if (this.node === node) this.distrust();
    });
    this.distrust();
    void this.enable();
  }

  close(): Promise<void> {
    this.closed = true;
    this.distrust();
    return this.tracking.close();
  }

  private distrust(): void {
    if (!this.trusted) return;
    this.trusted = false;
    this.env.trustChanged();
    this.env.dropUntrusted();
  }

  /** Points the node connection's tracking at the subscriber, then trusts the node's keys. */
  private async enable(): Promise<void> {
    if (this.enabling) {
      this.enableAgain = true;
      return;
    }
    this.enabling = true;
    try {
      do {
        this.enableAgain = false;
        const node = this.node;
        if (this.closed || node === undefined) return;
        this.distrust();
        if (!(await this.tracking.enable(node))) continue;
        await this.env.events.beforeTrust();
        if (this.closed || this.enableAgain || node !== this.node || node.status === 'end') {
          continue;
        }
        // Copies read before the tracking pointed here missed their invalidations.
        this.env.dropUntrusted();
        this.trusted = true;
        this.env.trustChanged();
      } while (this.enableAgain);
    } catch (error) {
      if (this.closed) return;
      this.env.events.error(`node ${this.key} tracking`, error as Error);
      setTimeout(() => void this.enable(), 1000).unref();
    } finally {
      this.enabling = false;
    }
  }
}
