import type { HubStats } from './types.js';

/**
 * What the hub counts, in one place: each part adds to its own lines, `hub.stats()` and the
 * metrics read them all. Plain numbers: delivering to a thousand sockets adds to one. Each
 * is the field of `HubStats` of the same name (`stats()` spreads them into it): one not
 * there would show in `stats()` untyped.
 */
export class HubCounters
  implements
    Omit<
      HubStats,
      'instanceId' | 'mode' | 'fanout' | 'degraded' | 'connections' | 'rooms' | 'roomless'
    >
{
  published = 0;
  delivered = 0;
  /** Messages from Redis that `dry-run` counted instead of delivering. */
  dryRunSkipped = 0;
  deserializeFailures = 0;
  slowConsumerCloses = 0;
  sessionEndCloses = 0;
  upgradesUnclaimed = 0;
  replaysRefused = 0;
  /** Messages that arrived from Redis (own echoes not counted). */
  pubsubReceived = 0;
  /** Publishes that could not reach the other instances. */
  fanoutDropped = 0;
  /** Events of other instances that never arrived here. */
  fanoutMissed = 0;
  /** Client messages that a path's decoder made nothing of, on purpose. */
  messagesIgnored = 0;
}
