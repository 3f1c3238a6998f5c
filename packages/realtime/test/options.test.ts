import { recordingLogger, redisUrl } from '@bancada/testkit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  createHub,
  type HubOptions,
  RealtimeArgumentError,
  RealtimeOptionError,
} from '../src/index.js';
import { afterThisTest, connectClient, joinedClient, startHub, waitFor } from './helpers/hubs.js';

const alice = { name: 'alice', restaurantId: 'a' };

function hubWith(options: Partial<HubOptions>) {
  const hub = createHub({
    authenticate: async () => null,
    logger: false,
    redis: false,
    ...options,
  });
  afterThisTest(() => hub.close());
  return hub;
}

describe('createHub options', () => {
  it('requires authenticate, and says how to opt out', () => {
    expect(() => createHub({} as HubOptions)).toThrow(/authenticate is required.*false/);
    expect(() => createHub(undefined as unknown as HubOptions)).toThrow(RealtimeOptionError);
  });

  it.each([
    [{ redis: 'localhost:6379' }, /redis URL must start with redis:\/\//],
    [{ heartbeatMs: 0 }, /heartbeatMs must be a whole number/],
    [{ reauthenticateMs: 500 }, /reauthenticateMs must be a whole number from 1000 to \d+/],
    [{ reauthenticateMs: 2 ** 31 }, /reauthenticateMs must be a whole number from 1000/],
    [{ maxPayloadBytes: 1.5 }, /maxPayloadBytes/],
    [{ maxBufferedBytes: -1 }, /maxBufferedBytes/],
    [{ maxBadMessages: -1 }, /maxBadMessages/],
    [{ writeDelayMs: -1 }, /writeDelayMs must be a whole number of milliseconds from 0 to 1000/],
    [{ writeDelayMs: 5000 }, /writeDelayMs must be a whole number of milliseconds from 0 to 1000/],
    [{ writeDelayMs: 2.5 }, /writeDelayMs/],
    [{ fanout: 'yes' }, /fanout must be one of off, dry-run, on/],
    [{ instanceId: '' }, /instanceId/],
    [{ retryAfterMs: [5000, 1000] }, /retryAfterMs/],
    [{ roomlessAfterMs: 0 }, /roomlessAfterMs must be a whole number from 1 to \d+, or false/],
    [{ roomlessAfterMs: true }, /roomlessAfterMs must be a whole number/],
    [{ allowedOrigins: 'https://a.example' }, /allowedOrigins/],
    [{ connectionGate: {} }, /connectionGate/],
    [{ logger: {} }, /logger/],
  ])('refuses %j with a clear message', (options, message) => {
    const error = (() => {
      try {
        createHub({ authenticate: false, logger: false, ...(options as Partial<HubOptions>) });
      } catch (e) {
        return e as RealtimeOptionError;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(RealtimeOptionError);
    expect(error.code).toBe('BANCADA_REALTIME_INVALID_OPTION');
    expect(error.message).toMatch(message);
  });

  it('reads BANCADA_FANOUT, and names it when it is wrong', () => {
    const saved = process.env.BANCADA_FANOUT;
    afterThisTest(() => {
      if (saved === undefined) delete process.env.BANCADA_FANOUT;
      else process.env.BANCADA_FANOUT = saved;
    });
    process.env.BANCADA_FANOUT = 'dry-run';
    expect(hubWith({}).fanout).toBe('dry-run');
    process.env.BANCADA_FANOUT = 'maybe';
    expect(() => hubWith({})).toThrow(/BANCADA_FANOUT must be one of/);
  });

  it('logs the mode it chose once, and warns about anonymous connections', async () => {
    const local = recordingLogger();
    hubWith({ logger: local, authenticate: false });
    expect(local.lines).toEqual([
      expect.stringMatching(/^warn realtime: authenticate is false/),
      'info realtime: local (single instance only)',
    ]);
    const distributed = recordingLogger();
    const hub = hubWith({ logger: distributed, redis: await redisUrl() });
    await hub.ready();
    expect(distributed.lines).toEqual(['info realtime: redis (distributed, fan-out on)']);
  });
});

describe('publishing', () => {
  it('refuses a bad room or event with a RealtimeArgumentError, and delivers nothing', async () => {
    const { hub, wsUrl } = await startHub({ redis: false });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    expect(() => hub.publish('', { eventType: 'x' })).toThrow(RealtimeArgumentError);
    expect(() => hub.publish('restaurant:a', { eventType: '' })).toThrow(/eventType/);
    expect(() => hub.publish('restaurant:a', null as never)).toThrow(/must be an object/);
    expect(() => hub.toRestaurant('a', { eventType: 'x', payload: { n: 1n } })).toThrow(
      /cannot be sent as JSON/,
    );
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => hub.toRestaurant('a', { eventType: 'x', payload: circular })).toThrow(
      RealtimeArgumentError,
    );
    expect(hub.stats().published).toBe(0);
    hub.toRestaurant('a', { eventType: 'fine', traceId: 'req-42' });
    const event = await client.next((m) => m.type === 'event', 'the good event');
    expect(event).toMatchObject({ eventType: 'fine', traceId: 'req-42', payload: null });
    expect(client.events()).toHaveLength(1);
  });
});

describe('attach', () => {
  it('leaves upgrades on other paths to their own handlers', async () => {
    const { server, wsUrl } = await startHub({ redis: false });
    // Several WebSocket endpoints on one server each take their own path (noServer mode).
    const other = new WebSocketServer({ noServer: true });
    afterThisTest(() => other.close());
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other')
        other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws));
    });
    const reached = new Promise<void>((resolve) => other.once('connection', () => resolve()));
    await connectClient(wsUrl.replace('/ws', '/other'), alice);
    await reached;
    await connectClient(wsUrl, alice);
    expect(() =>
      createHub({ authenticate: false, logger: false }).attach(server, { path: 'ws' }),
    ).toThrow(/path must start with/);
  });
});

describe('metrics', () => {
  it('reports bancada_realtime_* metrics on a prom-client registry', async () => {
    const registry = new Registry();
    const { hub, wsUrl } = await startHub({ redis: false, registry });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    hub.toRestaurant('a', { eventType: 'x' });
    await client.next((m) => m.type === 'event', 'the event');
    const text = await registry.metrics();
    expect(text).toMatch(/bancada_realtime_connections\{transport="websocket"\} 1/);
    expect(text).toMatch(/bancada_realtime_connections\{transport="sse"\} 0/);
    expect(text).toMatch(/bancada_realtime_messages_published_total 1/);
    expect(text).toMatch(/bancada_realtime_messages_delivered_total 1/);
    for (const name of [
      'pubsub_received_total',
      'deserialize_failures_total',
      'slow_consumer_closes_total',
      'session_end_closes_total',
      'fanout_dropped_total',
      'fanout_missed_total',
      'messages_ignored_total',
      'roomless_connections',
    ]) {
      expect(text).toMatch(new RegExp(`bancada_realtime_${name} 0`));
    }
    expect(text).toMatch(/bancada_realtime_degraded 0/);
    expect(text).toMatch(/bancada_realtime_broadcast_latency_seconds_count 1/);

    expect(() => createHub({ authenticate: false, logger: false, registry })).toThrow(
      /already reports to this registry/,
    );
    await hub.close();
    await waitFor(
      'metrics to go',
      async () => !(await registry.metrics()).includes('bancada_realtime'),
    );
  });
});
