import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectionLimitStats } from './connection-limit.js';
import type { RejectionReason } from './types.js';

export interface LimitsMetrics {
  rejected(reason: RejectionReason): void;
  unregister(): void;
}

interface Shared {
  rejections: Counter<'limiter' | 'reason'>;
  sources: Map<string, () => ConnectionLimitStats>;
}

const byRegistry = new WeakMap<Registry, Shared>();

/** `bancada_limits_rejections_total{reason}` and `bancada_limits_active_connections`. */
export function limitsMetrics(
  registry: Registry,
  name: string,
  stats: () => ConnectionLimitStats,
): LimitsMetrics {
  let shared = byRegistry.get(registry);
  if (shared === undefined) {
    const sources = new Map<string, () => ConnectionLimitStats>();
    const rejections = new Counter({
      name: 'bancada_limits_rejections_total',
      help: 'Connections turned away, by reason (per-ip, total, unavailable).',
      labelNames: ['limiter', 'reason'],
      registers: [registry],
    });
    new Gauge({
      name: 'bancada_limits_active_connections',
      help: 'Connections holding a slot on this instance.',
      labelNames: ['limiter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [limiter, source] of sources) this.set({ limiter }, source().active);
      },
    });
    new Gauge({
      name: 'bancada_limits_degraded',
      help: '1 while Redis is unreachable and the per-IP limit is not shared.',
      labelNames: ['limiter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [limiter, source] of sources) this.set({ limiter }, source().degraded ? 1 : 0);
      },
    });
    shared = { rejections, sources };
    byRegistry.set(registry, shared);
  }
  if (shared.sources.has(name)) {
    throw new TypeError(
      `a limiter named "${name}" already reports to this registry: give each its own name`,
    );
  }
  shared.sources.set(name, stats);
  const { rejections, sources } = shared;
  return {
    rejected: (reason) => rejections.inc({ limiter: name, reason }),
    unregister: () => {
      sources.delete(name);
    },
  };
}
