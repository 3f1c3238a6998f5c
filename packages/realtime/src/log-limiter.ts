/** Lets a repeated message through at most once per interval, so an outage cannot flood the log. */
export class LogLimiter {
  private last = new Map<string, number>();

  constructor(private readonly intervalMs = 10_000) {}

  allow(topic: string, now = Date.now()): boolean {
    const previous = this.last.get(topic);
    if (previous !== undefined && now - previous < this.intervalMs) return false;
    this.last.set(topic, now);
    return true;
  }
}
