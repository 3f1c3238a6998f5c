export type { Logger } from '@bancada/internal';
export { PersistenceWorkerClosedError, WorkerOptionError } from './errors.js';
export {
  createEventPublisher,
  type EventPublisher,
  type EventPublisherOptions,
} from './event-publisher.js';
export type { PersistenceWorkerOptions, PersistenceWorkerTestHooks } from './options.js';
export {
  deadLetterStreams,
  MAX_PARTITIONS,
  partitionCountKey,
  partitionOf,
  partitionStreams,
} from './partitions.js';
export { createPersistenceWorker } from './persistence-worker.js';
export type { PersistenceWorker, PersistenceWorkerStats } from './types.js';
