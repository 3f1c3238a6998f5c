/** `job.stats()`. Counts are of this instance, since the job was made. */
export interface JobStats {
  name: string;
  instanceId: string;
  /** `redis`: once across the instances that share the Redis and prefix. `local`: this instance alone. */
  mode: 'redis' | 'local';
  /** This instance holds the lease (by its own clock) and is the one that runs the job. */
  leader: boolean;
  /** The instance that leads, as this one last saw it. */
  leaderId: string | undefined;
  /** A run is in progress on this instance. */
  running: boolean;
  /** Runs started on this instance. */
  runs: number;
  /** Runs that threw or rejected (logged), their signal not aborted. */
  failures: number;
  /** Runs that threw or rejected after their signal aborted (stop, or the lead lost). */
  aborted: number;
  /** When the last run on this instance started. */
  lastRunAt: Date | undefined;
}
