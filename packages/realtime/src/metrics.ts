import { claimRegistry, scrapedFrom } from '@bancada/internal';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { RealtimeOptionError } from './errors.js';
import type { BufferReport } from './members/buffered.js';
import type { HubStats } from './types.js';

/** What the hub reports to while it runs. */
export interface HubMetrics {
  /** Seconds from an event's `ts` to its write on the last local socket of its room. */
  observeLatency(seconds: number): void;
  unregister(): void;
}

const NAMES = [
  'bancada_realtime_connections',
  'bancada_realtime_messages_published_total',
  'bancada_realtime_messages_delivered_total',
  'bancada_realtime_pubsub_received_total',
  'bancada_realtime_deserialize_failures_total',
  'bancada_realtime_slow_consumer_closes_total',
  'bancada_realtime_session_end_closes_total',
  'bancada_realtime_fanout_dropped_total',
  'bancada_realtime_fanout_missed_total',
  'bancada_realtime_upgrades_unclaimed_total',
  'bancada_realtime_replays_refused_total',
  'bancada_realtime_messages_ignored_total',
  'bancada_realtime_roomless_connections',
  'bancada_realtime_degraded',
  'bancada_realtime_broadcast_latency_seconds',
  'bancada_realtime_buffered_bytes',
  'bancada_realtime_slow_connections',
];

/** Unsent bytes per connection: 0 (nothing waits) up to past the default maxBufferedBytes. */
const BUFFERED_BUCKETS = [
  0, 1024, 8192, 65_536, 262_144, 524_288, 1_048_576, 4_194_304, 16_777_216,
];

/**
 * `bancada_realtime_*` metrics. Counters are read from `hub.stats()` at scrape time, so
 * delivering an event to a thousand sockets bumps a plain number, not a thousand metrics.
 */
export function registerHubMetrics(
  registry: Registry,
  stats: () => HubStats,
  buffers: () => BufferReport,
): HubMetrics {
  const release = claimRegistry(registry, 'hub', undefined, (m) => new RealtimeOptionError(m));
  const { counter, gauge } = scrapedFrom(registry, stats);
  new Gauge({
    name: 'bancada_realtime_connections',
    help: 'Clients connected to this instance, by transport.',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ transport: 'websocket' }, s.connections.websocket);
      this.set({ transport: 'sse' }, s.connections.sse);
    },
  });
  counter(
    'bancada_realtime_messages_published_total',
    'Events published by this instance.',
    (s) => s.published,
  );
  counter(
    'bancada_realtime_messages_delivered_total',
    'Events written to local clients.',
    (s) => s.delivered,
  );
  counter(
    'bancada_realtime_pubsub_received_total',
    'Messages received from Redis (own echoes not counted).',
    (s) => s.pubsubReceived,
  );
  counter(
    'bancada_realtime_deserialize_failures_total',
    'Messages from Redis dropped as unusable.',
    (s) => s.deserializeFailures,
  );
  counter(
    'bancada_realtime_slow_consumer_closes_total',
    'Clients closed for not reading fast enough.',
    (s) => s.slowConsumerCloses,
  );
  counter(
    'bancada_realtime_session_end_closes_total',
    'Connections closed because their session ended or no longer admits their rooms.',
    (s) => s.sessionEndCloses,
  );
  counter(
    'bancada_realtime_fanout_dropped_total',
    'Publishes that could not reach the other instances.',
    (s) => s.fanoutDropped,
  );
  counter(
    'bancada_realtime_fanout_missed_total',
    'Events of other instances that never arrived here (gaps in their numbering).',
    (s) => s.fanoutMissed,
  );
  counter(
    'bancada_realtime_upgrades_unclaimed_total',
    'WebSocket upgrades to a path nobody serves, answered 404 and closed.',
    (s) => s.upgradesUnclaimed,
  );
  counter(
    'bancada_realtime_replays_refused_total',
    'Resumes answered with a gap instead of a replay, for coming too often.',
    (s) => s.replaysRefused,
  );
  counter(
    'bancada_realtime_messages_ignored_total',
    "Client messages a path's decoder ignored on purpose.",
    (s) => s.messagesIgnored,
  );
  gauge(
    'bancada_realtime_roomless_connections',
    'Connections in no room for longer than roomlessAfterMs (they get broadcasts only).',
    (s) => s.roomless,
  );
  gauge(
    'bancada_realtime_degraded',
    "1 while Redis is unreachable and events reach this instance's clients only.",
    (s) => (s.degraded ? 1 : 0),
  );
  const latency = new Histogram({
    name: 'bancada_realtime_broadcast_latency_seconds',
    help: "From an event's timestamp to its write on the last local socket of its room.",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // Both read one walk over the connections per scrape (a scrape collects every metric in
  // one go): the walk is kept until the scrape's turn is over.
  let report: BufferReport | undefined;
  const walk = () => {
    if (report === undefined) {
      report = buffers();
      process.nextTick(() => {
        report = undefined;
      });
    }
    return report;
  };
  new Histogram({
    name: 'bancada_realtime_buffered_bytes',
    help:
      'Unsent bytes per connection at the last scrape (every connection, or an even sample ' +
      'of 10,000): a slow client shows here before maxBufferedBytes closes it.',
    buckets: BUFFERED_BUCKETS,
    registers: [registry],
    collect() {
      this.reset();
      for (const bytes of walk().sample) this.observe(bytes);
    },
  });
  new Gauge({
    name: 'bancada_realtime_slow_connections',
    help: 'Connections with more than half of maxBufferedBytes unsent.',
    registers: [registry],
    collect() {
      this.set(walk().aboveHalf);
    },
  });
  return {
    observeLatency: (seconds) => latency.observe(Math.max(0, seconds)),
    unregister: () => {
      for (const name of NAMES) registry.removeSingleMetric(name);
      release();
    },
  };
}
