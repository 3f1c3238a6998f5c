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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCookie, type RunningPdv, startPdv } from './helpers/instances.js';
import { openScreen } from './helpers/screens.js';

// Two instances of the app with tracing configured, and the real OpenTelemetry SDK in this
// process, its spans kept in memory (what `npm start` registers with an OTLP exporter).

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let db: TestDatabase;
let redis: string;
const prefix = keyPrefix('pdv-tracing');
let one: RunningPdv;
let two: RunningPdv;

beforeAll(async () => {
  provider.register();
  db = await createDatabase('pdv_tracing');
  redis = await redisUrl();
  const options = {
    databaseUrl: db.url,
    redisUrl: redis,
    prefix,
    otlpEndpoint: 'http://127.0.0.1:4318',
  };
  one = await startPdv({ ...options, instanceId: 'pdv-1' });
  two = await startPdv({ ...options, instanceId: 'pdv-2' });
  await Promise.all([one.pdv.hub.ready(5_000), two.pdv.hub.ready(5_000)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await db?.drop();
  if (redis) await cleanupPrefix(redis, prefix);
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe('tracing across instances (OpenTelemetry)', () => {
  it('an order posted on instance 1 yields a delivery span on instance 2 in the same trace', async () => {
    const cookie = await loginCookie(one.url, 'ana@sol.demo', 'demo-pdv');
    const kitchen = await openScreen(two.url, cookie, 'sol');
    try {
      const menu = (await (await fetch(`${one.url}/api/menu`, { headers: { cookie } })).json()) as {
        items: Array<{ id: number }>;
      };
      exporter.reset();
      const response = await fetch(`${one.url}/api/orders`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: JSON.stringify({
          table: 'traced',
          items: [{ menuItemId: menu.items[0]!.id, qty: 1 }],
        }),
      });
      expect(response.status).toBe(201);
      const order = (await response.json()) as { id: number };
      await waitFor(
        'the order on the kitchen screen',
        () => kitchen.eventsOf(order.id).length === 1,
      );
      const spans = () => exporter.getFinishedSpans();
      const delivery = () =>
        spans().find(
          (s) =>
            s.name === 'bancada.realtime deliver' &&
            s.attributes['bancada.instance_id'] === 'pdv-2',
        );
      await waitFor('the delivery span on instance 2', () => delivery() !== undefined);

      const request = spans().find((s) => s.name === 'POST /api/orders');
      expect(request?.attributes).toMatchObject({
        'http.response.status_code': 201,
        'service.instance.id': 'pdv-1',
      });
      expect(delivery()!.spanContext().traceId).toBe(request!.spanContext().traceId);
      expect(delivery()!.attributes).toMatchObject({
        'messaging.destination.name': 'restaurant:sol',
        'bancada.event_type': 'order-created',
        'bancada.clients_written': 1,
      });
    } finally {
      kitchen.close();
    }
  });

  it('continues the trace of a request that brings a traceparent', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${two.url}/health`, {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    await waitFor('the request span', () =>
      exporter.getFinishedSpans().some((s) => s.spanContext().traceId === traceId),
    );
  });
});
