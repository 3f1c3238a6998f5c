/** `start()` was called on a persistence worker after `close()`. */
export class PersistenceWorkerClosedError extends Error {
  readonly code = 'BANCADA_REALTIME_WORKER_CLOSED' as const;

  constructor() {
    super('The persistence worker is closed: create a new one with createPersistenceWorker().');
    this.name = 'PersistenceWorkerClosedError';
  }
}
