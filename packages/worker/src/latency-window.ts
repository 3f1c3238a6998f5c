/** The last few hundred durations, for percentiles in `stats()` without a histogram library. */
export class LatencyWindow {
  private readonly values: number[] = [];
  private next = 0;

  constructor(private readonly size = 256) {}

  add(ms: number): void {
    if (this.values.length < this.size) this.values.push(ms);
    else this.values[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  /** Last, median and 99th percentile in ms (nearest rank); zeros before the first. */
  summary(): { lastMs: number; p50Ms: number; p99Ms: number } {
    if (this.values.length === 0) return { lastMs: 0, p50Ms: 0, p99Ms: 0 };
    const sorted = [...this.values].sort((a, b) => a - b);
    const at = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
    const last = this.values[(this.next + this.size - 1) % this.size] ?? 0;
    return { lastMs: round(last), p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
