// Run as a child process by worker.test.ts (bundled first): a persistence worker configured
// from the environment that SIGKILLs its own process right after its first batch commits,
// before the entries are acknowledged, as a crash in the worst place would.
import { createPersistenceWorker } from '../../src/persistence-worker.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`worker-child needs ${name}`);
  return value;
};

const worker = createPersistenceWorker({
  redis: env('REDIS_URL'),
  connectionString: env('DATABASE_URL'),
  stream: env('WORKER_STREAM'),
  group: env('WORKER_GROUP'),
  consumer: env('WORKER_CONSUMER'),
  table: env('WORKER_TABLE'),
  batchSize: Number(env('WORKER_BATCH_SIZE')),
  batchTimeoutMs: 50,
  logger: false,
  testHooks: {
    afterCommit() {
      process.kill(process.pid, 'SIGKILL');
    },
  },
});
worker.start();
// The worker holds nothing open by itself while it connects.
setInterval(() => {}, 1 << 30);
