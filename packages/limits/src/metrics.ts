import { claimRegistry } from '@bancada/internal';
import { Counter, Gauge, type Registry } from 'prom-client';
import { LimitsOptionError } from './errors.js';
import type { RejectionReason } from './types.js';

export interface LimitsMetrics {
  /** `rate`: a rate limit's 429. */
  rejected(reason: RejectionReason | 'rate'): void;
  unregister(): void;
}

/** What a limiter reports; a rate limit holds no connections (`active` undefined). */
export interface LimiterState {
  degraded: boolean;
  active?: number;
}

interface Shared {
  rejections: Counter<'limiter' | 'reason'>;
  sources: Map<string, () => LimiterState>;
}

const byRegistry = new WeakMap<Registry, Shared>();

/**
 * `bancada_limits_rejections_total{limiter,reason}`, `bancada_limits_active_connections` and
 * `bancada_limits_degraded`, shared by every limiter of one registry.
 */
export function limitsMetrics(
  registry: Registry,
  name: string,
  stats: () => LimiterState,
  fromPrefix?: string,
): LimitsMetrics {
  // First, since it may refuse the name: before any metric is made.
  const release = claimRegistry(registry, 'limiter', name, (message) =>
    fromPrefix === undefined
      ? new LimitsOptionError(message)
      : new LimitsOptionError(
          `${message} (the name comes from the prefix "${fromPrefix}", which they share: give ` +
            'each its own prefix, which in Redis keeps their counts apart too)',
        ),
  );
  let shared = byRegistry.get(registry);
  if (shared === undefined) {
    const sources = new Map<string, () => LimiterState>();
    const rejections = new Counter({
      name: 'bancada_limits_rejections_total',
      help: 'Connections and requests turned away, by reason (per-ip, total, unavailable, rate).',
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
        for (const [limiter, source] of sources) {
          const { active } = source();
          if (active !== undefined) this.set({ limiter }, active);
        }
      },
    });
    new Gauge({
      name: 'bancada_limits_degraded',
      help: '1 while Redis is unreachable and the limit is not shared.',
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
  shared.sources.set(name, stats);
  const { rejections, sources } = shared;
  return {
    rejected: (reason) => rejections.inc({ limiter: name, reason }),
    unregister: () => {
      sources.delete(name);
      release();
    },
  };
}
