import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/**
 * prom-client's default metrics that break Prometheus's naming rule: gauges named `_total`
 * (promtool check metrics: `non-counter metrics should not have "_total" suffix`). Each is
 * the sum of its per-type gauge without the suffix, `sum(nodejs_active_handles)` and so on.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The app's registry: process and Node metrics, and every package's `bancada_*` metrics. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  return registry;
}

/** `pdv_order_events_total{event}`: order changes published to the restaurant rooms. */
export function orderEventsCounter(registry: Registry): (event: string) => void {
  const counter = new Counter({
    name: 'pdv_order_events_total',
    help: 'Order changes published to the restaurant rooms, by event type.',
    labelNames: ['event'],
    registers: [registry],
  });
  return (event) => counter.inc({ event });
}
