import type { Store } from 'express-session';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

type Callback = (error?: unknown, ...rest: unknown[]) => void;

/** Whether the store's last call failed: what health checks and the degraded gauge show. */
export interface StoreHealth {
  degraded: boolean;
}

/**
 * Watches every store call: `health.degraded` turns true when a call fails and false on the
 * next success. With a registry, also `bancada_session_store_errors_total{op}`,
 * `bancada_session_store_duration_seconds{op}` and `bancada_session_degraded`.
 */
export function watchStore(store: Store, registry: Registry | undefined): StoreHealth {
  const health: StoreHealth = { degraded: false };
  const metrics = registry ? sessionMetrics(registry, health) : undefined;
  for (const op of ['get', 'set', 'touch', 'destroy'] as const) {
    const original = store[op]?.bind(store) as ((...args: unknown[]) => void) | undefined;
    if (original === undefined) continue;
    (store as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      const done = args.pop() as Callback | undefined;
      const stop = metrics?.duration.startTimer({ op });
      original(...args, (error?: unknown, ...rest: unknown[]) => {
        stop?.();
        health.degraded = Boolean(error);
        if (error) metrics?.errors.inc({ op });
        done?.(error, ...rest);
      });
    };
  }
  return health;
}

function sessionMetrics(registry: Registry, health: StoreHealth) {
  const errors =
    (registry.getSingleMetric('bancada_session_store_errors_total') as Counter<'op'> | undefined) ??
    new Counter({
      name: 'bancada_session_store_errors_total',
      help: 'Session store calls that failed (the request got a 503 or lost its save).',
      labelNames: ['op'],
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('bancada_session_store_duration_seconds') as
      | Histogram<'op'>
      | undefined) ??
    new Histogram({
      name: 'bancada_session_store_duration_seconds',
      help: 'Time a session store call took.',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  if (registry.getSingleMetric('bancada_session_degraded') === undefined) {
    new Gauge({
      name: 'bancada_session_degraded',
      help: '1 while the session store is failing (requests that need a session get 503).',
      registers: [registry],
      collect() {
        this.set(health.degraded ? 1 : 0);
      },
    });
  }
  return { errors, duration };
}
