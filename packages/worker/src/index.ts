export type { Logger } from '@bancada/internal';
export { PersistenceWorkerClosedError, WorkerOptionError } from './errors.js';
export type { PersistenceWorkerOptions, PersistenceWorkerTestHooks } from './options.js';
export { createPersistenceWorker } from './persistence-worker.js';
export type { PersistenceWorker, PersistenceWorkerStats } from './types.js';
