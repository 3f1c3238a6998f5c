/**
 * What this instance changed while Redis was out of reach. Redis still holds the values
 * those changes replaced, so on recovery they are removed from Redis before it is trusted
 * again: the next read reloads from the source of truth instead of serving a stale value.
 * Sets are replayed as deletes too, since another instance may have written since.
 */
export class OutageJournal {
  private keys = new Set<string>();
  private patterns = new Set<string>();
  private everything = false;

  constructor(private readonly maxEntries: number) {}

  get isEmpty(): boolean {
    return !this.everything && this.keys.size === 0 && this.patterns.size === 0;
  }

  /** A key was set or deleted locally. */
  key(key: string): void {
    if (this.everything) return;
    this.keys.add(key);
    if (this.keys.size > this.maxEntries) this.all();
  }

  /** Keys matching a glob were deleted locally. */
  pattern(glob: string): void {
    if (this.everything) return;
    this.patterns.add(glob);
    if (this.patterns.size > this.maxEntries) this.all();
  }

  /** The whole cache was cleared locally, or too much changed to remember it key by key. */
  all(): void {
    this.everything = true;
    this.keys.clear();
    this.patterns.clear();
  }

  /**
   * Hands the pending changes to `apply`. They are taken out first, so changes recorded while
   * `apply` runs stay for the next replay; if `apply` fails, what it was given is put back.
   */
  async replay(apply: {
    keys(keys: string[]): Promise<unknown>;
    pattern(glob: string): Promise<unknown>;
  }): Promise<void> {
    const everything = this.everything;
    const keys = [...this.keys];
    const patterns = [...this.patterns];
    this.everything = false;
    this.keys.clear();
    this.patterns.clear();
    try {
      if (everything) {
        await apply.pattern('*');
      } else {
        if (keys.length > 0) await apply.keys(keys);
        for (const glob of patterns) await apply.pattern(glob);
      }
    } catch (error) {
      if (everything) this.all();
      for (const key of keys) this.key(key);
      for (const glob of patterns) this.pattern(glob);
      throw error;
    }
  }
}
