import {
  cleanupPrefix,
  createDatabase,
  keyPrefix,
  redisUrl,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPersistenceWorker } from '../src/index.js';
import { envelope, rowCount } from './helpers/worker-fixtures.js';

// The real OpenTelemetry SDK, its spans kept in memory.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

let url: string;
let db: TestDatabase;
let sql: pg.Pool;
let redis: Redis;
let prefix: string;

beforeAll(async () => {
  provider.register();
  url = await redisUrl();
  prefix = keyPrefix('worker-tracing');
  db = await createDatabase('worker_tracing');
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  redis = new Redis(url);
}, 60_000);

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  redis?.disconnect();
  await sql?.end();
  await db?.drop();
  if (prefix) await cleanupPrefix(url, prefix);
});

/** A W3C traceparent of trace `n`, as a publisher within a span records it. */
function traceparentOf(n: number): string {
  return `00-${n.toString(16).padStart(32, 'a')}-${n.toString(16).padStart(16, 'b')}-01`;
}

describe('the persistence worker with OpenTelemetry (the real SDK)', () => {
  it("writes a batch in a span linked to each traced event's publish context", async () => {
    const stream = `${prefix}traced`;
    const table = 'traced_events';
    const pipeline = redis.pipeline();
    for (let n = 1; n <= 3; n++) {
      pipeline.xadd(stream, '*', 'e', envelope(n, { traceparent: traceparentOf(n) }));
    }
    pipeline.xadd(stream, '*', 'e', envelope(4)); // published in no trace
    pipeline.xadd(stream, '*', 'e', envelope(5, { traceparent: 'not-a-traceparent' }));
    await pipeline.exec();

    const worker = createPersistenceWorker({
      redis: url,
      stream,
      table,
      connectionString: db.url,
      batchSize: 10,
      batchTimeoutMs: 50,
      logger: false,
    });
    worker.start();
    try {
      await waitFor('five rows', async () => (await rowCount(sql, table)) === 5, 20_000);
      await waitFor('the persist span', () =>
        exporter.getFinishedSpans().some((s) => s.name === 'bancada.worker persist'),
      );
    } finally {
      await worker.close();
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'bancada.worker persist');
    expect(spans).toHaveLength(1);
    const [span] = spans;
    expect(span!.links.map((l) => l.context.traceId)).toEqual(
      [1, 2, 3].map((n) => traceparentOf(n).split('-')[1]),
    );
    expect(span!.links[0]!.context.spanId).toBe(traceparentOf(1).split('-')[2]);
    expect(span!.attributes).toMatchObject({
      'messaging.destination.name': stream,
      'messaging.batch.message_count': 5,
      'db.collection.name': table,
      'bancada.inserted': 5,
    });
  });
});
