/** An option that can never work; a `TypeError` with a stable code. */
export class WorkerOptionError extends TypeError {
  readonly code = 'BANCADA_WORKER_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'WorkerOptionError';
  }
}

/** `start()` was called on a persistence worker after `close()`. */
export class PersistenceWorkerClosedError extends Error {
  readonly code = 'BANCADA_WORKER_CLOSED' as const;

  constructor() {
    super('The persistence worker is closed: create a new one with createPersistenceWorker().');
    this.name = 'PersistenceWorkerClosedError';
  }
}

/** Bad flags or environment for `bancada-worker`: the CLI prints the message and exits 2. */
export class CliUsageError extends Error {
  readonly code = 'BANCADA_WORKER_USAGE' as const;

  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}
