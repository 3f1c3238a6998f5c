import { claimRegistry } from '@bancada/internal';
import type { Store } from 'express-session';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SessionOptionError } from './errors.js';

type Callback = (error?: unknown, ...rest: unknown[]) => void;

/** Whether the store's last call failed: what health checks and the degraded gauge show. */
export interface StoreHealth {
  degraded: boolean;
}

/** The metrics a store's calls go to (see `sessionMetrics`). */
export type SessionMetrics = ReturnType<typeof sessionMetrics>;

/**
 * Watches every store call: `health.degraded` turns true when a call fails and false on the
 * next success, and `metrics` count them.
 */
export function watchStore(
  store: Store,
  health: StoreHealth,
  metrics: SessionMetrics | undefined,
): void {
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
}

const NAMES = [
  'bancada_session_store_errors_total',
  'bancada_session_store_duration_seconds',
  'bancada_session_degraded',
];

/**
 * `bancada_session_store_errors_total{op}`, `bancada_session_store_duration_seconds{op}` and
 * `bancada_session_degraded` on `registry`: one session store per registry, as for every
 * reporter of the kit (a second one is refused when it is made).
 */
export function sessionMetrics(registry: Registry, health: StoreHealth) {
  const release = claimRegistry(
    registry,
    'session store',
    undefined,
    (message) => new SessionOptionError(message),
  );
  const errors = new Counter({
    name: 'bancada_session_store_errors_total',
    help: 'Session store calls that failed (the request got a 503 or lost its save).',
    labelNames: ['op'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'bancada_session_store_duration_seconds',
    help: 'Time a session store call took.',
    labelNames: ['op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new Gauge({
    name: 'bancada_session_degraded',
    help: '1 while the session store is failing (requests that need a session get 503).',
    registers: [registry],
    collect() {
      this.set(health.degraded ? 1 : 0);
    },
  });
  const unregister = () => {
    for (const name of NAMES) registry.removeSingleMetric(name);
    release();
  };
  return { errors, duration, unregister };
}
