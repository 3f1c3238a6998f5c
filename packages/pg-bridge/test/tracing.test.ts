import { createDatabase } from '@bancada/testkit';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgBridge } from '../src/pg-bridge.js';
import {
  afterThisTest,
  joinedClient,
  startInstances,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

// The real OpenTelemetry SDK, its spans kept in memory.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
beforeAll(() => {
  provider.register();
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

const alice: TestUser = { name: 'alice', restaurantId: 'a' };

describe('the NOTIFY bridge with OpenTelemetry (the real SDK)', () => {
  it('publishes within the span of handling the notification, and the delivery on another instance continues that trace', async () => {
    const db = await createDatabase('pg_bridge_tracing');
    afterThisTest(() => db.drop());
    const [one, two] = await startInstances(2);
    const bridge = createPgBridge({
      hub: one!.hub,
      connectionString: db.url,
      channels: {
        ticket_updates: (payload) => ({
          room: 'restaurant:a',
          event: { eventType: 'ticket-updated', payload },
        }),
      },
      logger: false,
    });
    afterThisTest(() => bridge.close());
    const kitchen = await joinedClient(two!.wsUrl, alice, 'restaurant:a');
    await waitFor('the bridge to listen', () => bridge.stats().listening, 15_000);

    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    afterThisTest(() => sql.end());
    await sql.query(`SELECT pg_notify('ticket_updates', '{"ticket":1}')`);
    await waitFor('the event', () => kitchen.events().length === 1, 15_000);
    const finished = () => exporter.getFinishedSpans();
    await waitFor('the delivery span', () =>
      finished().some((s) => s.name === 'bancada.realtime deliver'),
    );

    const notify = finished().find((s) => s.name === 'bancada.pg-bridge notify')!;
    const deliver = finished().find((s) => s.name === 'bancada.realtime deliver')!;
    expect(notify.attributes).toMatchObject({
      'messaging.destination.name': 'ticket_updates',
      'bancada.outcome': 'published',
    });
    expect(deliver.spanContext().traceId).toBe(notify.spanContext().traceId);
    expect(deliver.parentSpanContext?.spanId).toBe(notify.spanContext().spanId);
    expect(deliver.attributes['bancada.instance_id']).toBe(two!.hub.instanceId);
    expect(notify.parentSpanContext).toBeUndefined(); // a trace of its own

    // A payload that names the trace of the transaction that notified continues it.
    const writer = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await sql.query('SELECT pg_notify($1, $2)', [
      'ticket_updates',
      JSON.stringify({ ticket: 2, traceparent: writer }),
    ]);
    await waitFor('the second event', () => kitchen.events().length === 2, 15_000);
    const inWriterTrace = () =>
      finished().filter((s) => s.spanContext().traceId === '0af7651916cd43dd8448eb211c80319c');
    await waitFor('its delivery span', () =>
      inWriterTrace().some((s) => s.name === 'bancada.realtime deliver'),
    );
    const second = inWriterTrace().find((s) => s.name === 'bancada.pg-bridge notify')!;
    expect(second.parentSpanContext?.spanId).toBe('b7ad6b7169203331');

    // A malformed one is ignored: published, in a trace of its own.
    exporter.reset();
    await sql.query('SELECT pg_notify($1, $2)', [
      'ticket_updates',
      JSON.stringify({ ticket: 3, traceparent: '00-not-a-trace-01' }),
    ]);
    await waitFor('the third event', () => kitchen.events().length === 3, 15_000);
    await waitFor('its notify span', () =>
      finished().some((s) => s.name === 'bancada.pg-bridge notify'),
    );
    const third = finished().find((s) => s.name === 'bancada.pg-bridge notify')!;
    expect(third.parentSpanContext).toBeUndefined();
    expect(third.attributes['bancada.outcome']).toBe('published');
  });
});
