import { Counter, Gauge, type Registry } from 'prom-client';

/** Makes metrics of `registry` whose value is read from one field of the stats. */
export interface ScrapedMetrics<S> {
  /** A counter that is the stats' running total (which only grows). */
  counter(name: string, help: string, read: (stats: S) => number): Counter;
  gauge(name: string, help: string, read: (stats: S) => number): Gauge;
}

/**
 * Metrics read from a reporter's `stats()` when Prometheus scrapes, so that the hot path
 * bumps a plain number rather than a metric, and the two can never disagree.
 */
export function scrapedFrom<S>(registry: Registry, stats: () => S): ScrapedMetrics<S> {
  return {
    counter: (name, help, read) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read(stats()));
        },
      }),
    gauge: (name, help, read) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(stats()));
        },
      }),
  };
}
