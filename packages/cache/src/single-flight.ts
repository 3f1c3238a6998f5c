/** Work per key that concurrent callers share: the second caller of a key joins the first. */
export class SingleFlight {
  private readonly running = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let pending = this.running.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      const started = work();
      this.running.set(key, started);
      const done = () => {
        if (this.running.get(key) === started) this.running.delete(key);
      };
      started.then(done, done);
      pending = started;
    }
    return pending;
  }
}
