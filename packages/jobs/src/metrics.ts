import { claimRegistry, claimsOf } from '@bancada/internal';
import { Counter, Gauge, type Registry } from 'prom-client';
import { JobsOptionError } from './errors.js';

/** How a run ended: it returned, it threw, or it threw after its signal aborted. */
export type RunOutcome = 'ok' | 'failed' | 'aborted';

export interface JobMetrics {
  ran(outcome: RunOutcome): void;
  unregister(): void;
}

interface Shared {
  runs: Counter<'job' | 'outcome'>;
  leaders: Map<string, () => boolean>;
}

const FAMILY = 'job';
const NAMES = ['bancada_jobs_runs_total', 'bancada_jobs_leader'];
const byRegistry = new WeakMap<Registry, Shared>();

/**
 * `bancada_jobs_runs_total{job,outcome}` and `bancada_jobs_leader{job}`, shared by every
 * job of one registry, told apart by name; they leave the registry with its last job.
 */
export function jobMetrics(registry: Registry, name: string, leader: () => boolean): JobMetrics {
  const release = claimRegistry(registry, FAMILY, name, (m) => new JobsOptionError(m));
  let shared = byRegistry.get(registry);
  if (shared === undefined) {
    const leaders = new Map<string, () => boolean>();
    const runs = new Counter({
      name: 'bancada_jobs_runs_total',
      help: 'Runs of a job on this instance, by outcome (ok, failed, aborted).',
      labelNames: ['job', 'outcome'],
      registers: [registry],
    });
    new Gauge({
      name: 'bancada_jobs_leader',
      help: '1 while this instance leads the job: the one instance that runs it.',
      labelNames: ['job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [job, isLeader] of leaders) this.set({ job }, isLeader() ? 1 : 0);
      },
    });
    shared = { runs, leaders };
    byRegistry.set(registry, shared);
  }
  const { runs, leaders } = shared;
  leaders.set(name, leader);
  return {
    ran: (outcome) => runs.inc({ job: name, outcome }),
    unregister: () => {
      leaders.delete(name);
      release();
      if (claimsOf(registry, FAMILY) > 0) return;
      for (const metric of NAMES) registry.removeSingleMetric(metric);
      byRegistry.delete(registry);
    },
  };
}
