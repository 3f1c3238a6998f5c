/** `bridge.stats()`. Counters are since the bridge was created, on this instance. */
export interface PgBridgeStats {
  instanceId: string;
  /** `lease`: one leader among the instances (Redis). `single`: no Redis, this one listens. */
  mode: 'lease' | 'single';
  /** This instance holds the lease (by its own clock) and may publish. */
  leader: boolean;
  /** This instance LISTENs right now: leader and connected to Postgres. */
  listening: boolean;
  /** The bridge that leads, as this one last saw it. */
  leaderId: string | undefined;
  /** Notifications that arrived on the bridge's channels. */
  received: number;
  /** Notifications published into the hub. */
  published: number;
  /** Notifications the mapper skipped (returned null or undefined). */
  skipped: number;
  /**
   * Notifications dropped as unusable: not JSON where `payload: 'json'`, a mapper that threw
   * or returned something other than `{ room, event }`, or a room or event the hub refused.
   */
  malformed: number;
  /**
   * Notifications that arrived after this instance's lease ran out by its own clock, dropped
   * because another instance may have taken over: never published twice.
   */
  fenced: number;
  /** Notifications the hub could not take for another reason (the hub was closed). */
  failed: number;
  /** LISTEN sessions opened on Postgres: the first and every reconnect. */
  connects: number;
}
