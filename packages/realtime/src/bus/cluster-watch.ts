import { sleep, within } from '@bancada/internal';
import type { Cluster, Redis } from 'ioredis';

/** How often a lost cluster is checked. */
const CHECK_EVERY_MS = 250;
/**
 * How long the subscriber must go without losing a node before the cluster counts as back:
 * while a master is down, ioredis reconnects its shard subscriber to it again and again.
 */
const QUIET_MS = 750;

export interface ClusterWatchReport {
  /** A master (or the way to it) was lost. */
  lost(reason: string): void;
  /** Every master answers, every slot is served, and the subscriber has settled. */
  back(): void;
}

/**
 * On a Redis Cluster one master can fail while the others serve on: both clients stay
 * `ready`, a replica takes over the slots, and ioredis moves the shard subscriptions to the
 * new owner by itself. This watch tells the bus when a master is lost (a command failed, or a
 * node of either client went and a master does not answer) and when that is over, so the bus
 * keeps the same rules as on one node: an outage is reported lost, then recovered, and the
 * hub marks and fills its gaps. (ioredis also drops and adds nodes while it settles on the
 * cluster's map, at start: a node that goes while every master answers is no outage.)
 */
export class ClusterWatch {
  private troubled = false;
  private lastLoss = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;

  constructor(
    private readonly pub: Cluster,
    private readonly sub: Cluster,
    private readonly report: ClusterWatchReport,
  ) {
    for (const client of [pub, sub]) {
      client.on('-node', () => {
        // While a master is down, ioredis loses its connection to it again and again.
        if (this.troubled) this.lastLoss = Date.now();
        else void this.suspect();
      });
    }
  }

  /** True while a master is lost and not yet back. */
  get lost(): boolean {
    return this.troubled;
  }

  /** Something went wrong on the way to a master (a node lost, a command failed). */
  trouble(reason: string): void {
    if (this.closed) return;
    // Before the first `ready` nodes come and go as the clients find the cluster.
    if (this.pub.status !== 'ready' || this.sub.status !== 'ready') return;
    this.lastLoss = Date.now();
    if (this.troubled) return;
    this.troubled = true;
    this.report.lost(reason);
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** `servesEverySlot`, asked again for up to `ms` (at start, connections still open). */
  async servesEverySlotWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!(await this.servesEverySlot())) {
      if (Date.now() >= deadline || this.closed) return false;
      await sleep(100);
    }
    return true;
  }

  /** A node went: an outage if a master does not answer now. */
  private async suspect(): Promise<void> {
    if (this.troubled || this.closed) return;
    if (!(await this.servesEverySlot())) this.trouble('a master does not answer');
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.checking || this.closed) return;
    if (Date.now() - this.lastLoss < QUIET_MS) return;
    if (this.pub.status !== 'ready' || this.sub.status !== 'ready') return;
    this.checking = true;
    try {
      if (!(await this.servesEverySlot())) return;
      if (Date.now() - this.lastLoss < QUIET_MS || this.closed) return;
      this.troubled = false;
      clearInterval(this.timer);
      this.report.back();
    } finally {
      this.checking = false;
    }
  }

  /**
   * Every master of the commanding client's slot map answers, and says that every slot is
   * served. (Right after a master dies the others still call the cluster ok: they notice
   * after `cluster-node-timeout`. The slot map still names the dead one until it is replaced.)
   */
  async servesEverySlot(): Promise<boolean> {
    const keys = new Set(this.pub.slots.map((nodes) => nodes[0]));
    const byKey = new Map(this.pub.nodes().map((n) => [`${n.options.host}:${n.options.port}`, n]));
    const masters = [...keys].map((key) => (key === undefined ? undefined : byKey.get(key)));
    if (keys.size === 0 || masters.some((node) => node === undefined)) {
      this.pub.refreshSlotsCache();
      return false;
    }
    const answers = await Promise.all(
      (masters as Redis[]).map((node) =>
        within(node.call('CLUSTER', 'INFO'), 1000, 'no answer').then(
          (info) =>
            /cluster_state:ok/.test(String(info)) && /cluster_slots_ok:16384/.test(String(info)),
          () => false,
        ),
      ),
    );
    const ok = answers.every((answer) => answer === true);
    // A master that does not answer may be one the client has not yet seen replaced.
    if (!ok) this.pub.refreshSlotsCache();
    return ok;
  }
}
