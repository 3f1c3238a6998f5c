import { type Logger, ThrottledLog } from '@bancada/internal';

/**
 * The worker's log. Each line says whose it is. A line given a topic, and every error, is
 * logged at most once per topic every 10 seconds, so that an outage that fails every round
 * cannot flood the log; errors are not logged at all once the worker is closing, when its
 * connections fail on purpose.
 */
export class WorkerLog {
  private readonly throttled: ThrottledLog;

  constructor(
    private readonly logger: Logger,
    private readonly closing: AbortSignal,
  ) {
    this.throttled = new ThrottledLog(logger);
  }

  info(message: string, topic?: string): void {
    if (topic === undefined) this.logger.info(`realtime worker: ${message}`);
    else this.throttled.info(topic, `realtime worker: ${message}`);
  }

  warn(message: string, topic?: string): void {
    if (topic === undefined) this.logger.warn(`realtime worker: ${message}`);
    else this.throttled.warn(topic, `realtime worker: ${message}`);
  }

  /** `source` is what failed: redis, postgres, or the worker itself. */
  error(source: string, message: string): void {
    if (this.closing.aborted) return;
    this.throttled.error(`${source}:${message}`, `realtime worker: ${source} error: ${message}`);
  }
}
