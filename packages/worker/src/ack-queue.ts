import type { GroupStream } from './group-stream.js';
import type { WorkerCounts } from './types.js';

/**
 * Entries done with (written, dead-lettered, or deleted from the stream) and not yet
 * acknowledged: XACKed together, and kept for the next try when that fails.
 */
export class AckQueue {
  private ids: string[] = [];

  constructor(
    private readonly stream: GroupStream,
    private readonly counts: WorkerCounts,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  add(ids: readonly string[]): void {
    this.ids.push(...ids);
  }

  /** XACKs what is queued; on failure puts the ids back and throws. */
  async acknowledge(): Promise<void> {
    const ids = this.ids;
    if (ids.length === 0) return;
    this.ids = [];
    try {
      await this.stream.acknowledge(ids);
    } catch (error) {
      this.ids.push(...ids);
      throw error;
    }
    this.counts.acknowledged += ids.length;
  }
}
