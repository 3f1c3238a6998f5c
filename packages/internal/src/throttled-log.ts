import type { Logger } from './logger.js';

/**
 * A logger that lets each topic through at most once per interval, so that an outage that
 * fails every call cannot flood the log: the first line says what happened, the next one
 * comes an interval later if it is still happening.
 */
export class ThrottledLog {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  /** True if `topic` may be logged now (and counts this as its time). */
  allow(topic: string, now = Date.now()): boolean {
    const previous = this.last.get(topic);
    if (previous !== undefined && now - previous < this.intervalMs) return false;
    // Topics can carry error texts: keep the map from growing without end.
    if (this.last.size >= 1000) this.last.clear();
    this.last.set(topic, now);
    return true;
  }

  info(topic: string, message: string): void {
    if (this.allow(topic)) this.logger.info(message);
  }

  warn(topic: string, message: string): void {
    if (this.allow(topic)) this.logger.warn(message);
  }

  error(topic: string, message: string): void {
    if (this.allow(topic)) this.logger.error(message);
  }
}
