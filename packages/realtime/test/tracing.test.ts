import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHub } from '../src/index.js';
import {
  headerAuthenticate,
  joinedClient,
  type RunningHub,
  rawRedis,
  startInstances,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

// The real OpenTelemetry SDK, its spans kept in memory: what an app registers at start.
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
beforeEach(() => exporter.reset());

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const room = 'restaurant:a';
const DELIVER = 'bancada.realtime deliver';
const app = trace.getTracer('the app');

/** The delivery spans one instance made. */
function deliveriesOn(instance: RunningHub) {
  return exporter
    .getFinishedSpans()
    .filter(
      (s) => s.name === DELIVER && s.attributes['bancada.instance_id'] === instance.hub.instanceId,
    );
}

/** What a request handler does: publish within its own span. Resolves that span's context. */
async function publishInRequest(instance: RunningHub, payload: unknown) {
  return app.startActiveSpan('POST /orders', async (span) => {
    await instance.hub.publish(room, { eventType: 'order-created', payload });
    span.end();
    return span.spanContext();
  });
}

function prefixOf(instance: RunningHub): string {
  return (instance.hub as unknown as { o: { prefix: string } }).o.prefix;
}

describe('tracing with OpenTelemetry (the real SDK, spans in memory)', () => {
  for (const history of [false, true]) {
    it(`continues the publisher's trace in a delivery span on the other instance (history: ${history})`, async () => {
      const [one, two] = await startInstances(2, { history });
      const kitchen = await joinedClient(two!.wsUrl, alice, room);
      const request = await publishInRequest(one!, { table: 4 });
      await waitFor('the event', () => kitchen.events().length === 1);
      await waitFor('the delivery span', () => deliveriesOn(two!).length === 1);

      const [span] = deliveriesOn(two!);
      expect(span!.spanContext().traceId).toBe(request.traceId);
      expect(span!.parentSpanContext?.spanId).toBe(request.spanId); // a child of the request
      expect(span!.attributes).toMatchObject({
        'messaging.destination.name': room,
        'messaging.message.id': kitchen.events()[0]!.id,
        'bancada.event_type': 'order-created',
        'bancada.clients_written': 1,
      });
      expect(span!.attributes['bancada.latency_ms']).toBeGreaterThanOrEqual(0);
      // Instance one has no client of the room: it delivers nothing, and makes no span.
      expect(deliveriesOn(one!)).toEqual([]);
      // The trace context is the instances' business: clients do not see it.
      expect(kitchen.events()[0]).not.toHaveProperty('traceparent');
    });
  }

  it('records the trace context on the envelope only within a span', async () => {
    const [one] = await startInstances(1);
    const outside = await one!.hub.publish(room, { eventType: 'tick' });
    expect(outside.traceparent).toBeUndefined();
    const inside = await app.startActiveSpan('job', async (span) => {
      const sent = await one!.hub.publish(room, { eventType: 'tick' });
      span.end();
      return { sent, span: span.spanContext() };
    });
    expect(inside.sent.traceparent).toBe(`00-${inside.span.traceId}-${inside.span.spanId}-01`);
  });

  it('delivers an outside envelope with a malformed traceparent, ignoring the field; a valid one is continued', async () => {
    const [one] = await startInstances(1);
    const redis = await rawRedis();
    const kitchen = await joinedClient(one!.wsUrl, alice, room);
    const channel = `${prefixOf(one!)}ws:room:${room}`;
    const malformed = [
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // forbidden version
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      42,
    ];
    for (const [i, traceparent] of malformed.entries()) {
      await redis.publish(channel, JSON.stringify({ eventType: 'x', id: `m${i}`, traceparent }));
    }
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await redis.publish(channel, JSON.stringify({ eventType: 'x', id: 'v', traceparent: valid }));
    await waitFor('every event', () => kitchen.events().length === malformed.length + 1);
    expect(kitchen.events().map((e) => e.id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'v']);
    expect(one!.hub.stats().deserializeFailures).toBe(0);

    await waitFor('the delivery span', () => deliveriesOn(one!).length === 1);
    const [span] = deliveriesOn(one!);
    expect(span!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(span!.attributes['messaging.message.id']).toBe('v');
  });

  it('records nothing with tracing: false, even within a span', async () => {
    const [one, two] = await startInstances(2, { tracing: false });
    const kitchen = await joinedClient(two!.wsUrl, alice, room);
    await publishInRequest(one!, 1);
    await waitFor('the event', () => kitchen.events().length === 1);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['POST /orders']);
  });

  it('refuses a tracing option that is not a boolean', () => {
    expect(() =>
      createHub({ authenticate: headerAuthenticate, redis: false, tracing: 'yes' as never }),
    ).toThrow(/tracing must be true or false, got "yes"/);
  });
});
