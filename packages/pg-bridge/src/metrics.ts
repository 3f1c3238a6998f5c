import { claimRegistry } from '@bancada/internal';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PgBridgeOptionError } from './errors.js';
import type { PgBridgeStats } from './stats.js';

const NAMES = [
  'bancada_realtime_bridge_leader',
  'bancada_realtime_bridge_listening',
  'bancada_realtime_bridge_notifications_total',
  'bancada_realtime_bridge_connects_total',
];

const OUTCOMES = ['published', 'skipped', 'malformed', 'fenced', 'failed'] as const;

/**
 * `bancada_realtime_bridge_*` metrics, read from `bridge.stats()` at scrape time. Returns
 * the function that removes them again.
 */
export function registerBridgeMetrics(registry: Registry, stats: () => PgBridgeStats): () => void {
  const release = claimRegistry(
    registry,
    'pg bridge',
    undefined,
    (m) => new PgBridgeOptionError(m),
  );
  new Gauge({
    name: 'bancada_realtime_bridge_leader',
    help: '1 while this instance holds the leader lease of the Postgres bridge.',
    registers: [registry],
    collect() {
      this.set(stats().leader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bancada_realtime_bridge_listening',
    help: '1 while this instance LISTENs on Postgres (the leader, connected).',
    registers: [registry],
    collect() {
      this.set(stats().listening ? 1 : 0);
    },
  });
  new Counter({
    name: 'bancada_realtime_bridge_notifications_total',
    help: 'Postgres notifications received by this instance, by what became of them.',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      for (const outcome of OUTCOMES) this.inc({ outcome }, s[outcome]);
    },
  });
  new Counter({
    name: 'bancada_realtime_bridge_connects_total',
    help: 'LISTEN sessions opened on Postgres: the first and every reconnect.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().connects);
    },
  });
  return () => {
    for (const name of NAMES) registry.removeSingleMetric(name);
    release();
  };
}
