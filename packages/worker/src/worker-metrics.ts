import { claimRegistry, scrapedFrom } from '@bancada/internal';
import { Histogram, type Registry } from 'prom-client';
import { WorkerOptionError } from './errors.js';
import type { PersistenceWorkerStats } from './types.js';

/** What the worker reports to while it runs. */
export interface WorkerMetrics {
  observeBatch(size: number, insertSeconds: number): void;
  unregister(): void;
}

const NAMES = [
  'bancada_realtime_worker_pending',
  'bancada_realtime_worker_lag',
  'bancada_realtime_worker_degraded',
  'bancada_realtime_worker_inserted_total',
  'bancada_realtime_worker_duplicates_total',
  'bancada_realtime_worker_dead_lettered_total',
  'bancada_realtime_worker_write_errors_total',
  'bancada_realtime_worker_batch_size',
  'bancada_realtime_worker_insert_latency_seconds',
];

/**
 * `bancada_realtime_worker_*` metrics. Counters and gauges are read from `worker.stats()`
 * at scrape time; the two histograms are fed per batch.
 */
export function registerWorkerMetrics(
  registry: Registry,
  stats: () => PersistenceWorkerStats,
): WorkerMetrics {
  const release = claimRegistry(
    registry,
    'persistence worker',
    undefined,
    (message) => new WorkerOptionError(message),
  );
  const { counter, gauge } = scrapedFrom(registry, stats);
  gauge(
    'bancada_realtime_worker_pending',
    'Entries delivered to the consumer group and not acknowledged yet (all consumers).',
    (s) => s.pending,
  );
  gauge(
    'bancada_realtime_worker_lag',
    'Entries in the stream not delivered to the consumer group yet (-1: Redis cannot tell).',
    (s) => s.lag ?? -1,
  );
  gauge(
    'bancada_realtime_worker_degraded',
    '1 while Postgres or Redis is unreachable and nothing is acknowledged.',
    (s) => (s.degraded ? 1 : 0),
  );
  counter(
    'bancada_realtime_worker_inserted_total',
    'Rows this worker added to the table.',
    (s) => s.inserted,
  );
  counter(
    'bancada_realtime_worker_duplicates_total',
    'Redelivered entries whose row was already in the table.',
    (s) => s.duplicates,
  );
  counter(
    'bancada_realtime_worker_dead_lettered_total',
    'Entries moved to the dead-letter stream (malformed, or refused by Postgres).',
    (s) => s.deadLettered,
  );
  counter(
    'bancada_realtime_worker_write_errors_total',
    'Batch writes to Postgres that failed and were retried.',
    (s) => s.writeErrors,
  );
  const batchSize = new Histogram({
    name: 'bancada_realtime_worker_batch_size',
    help: 'Entries per batch written.',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'bancada_realtime_worker_insert_latency_seconds',
    help: 'Duration of the INSERT of one batch.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    observeBatch(size, insertSeconds) {
      batchSize.observe(size);
      latency.observe(insertSeconds);
    },
    unregister: () => {
      for (const name of NAMES) registry.removeSingleMetric(name);
      release();
    },
  };
}
