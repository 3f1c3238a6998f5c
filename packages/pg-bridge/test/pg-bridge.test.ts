import {
  cleanupPrefix,
  createDatabase,
  faultProxy,
  keyPrefix,
  recordingLogger,
  redisUrl,
} from '@bancada/testkit';
import pg from 'pg';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { PgBridgeOptions } from '../src/options.js';
import { createPgBridge, type PgBridge } from '../src/pg-bridge.js';
import { listenerClientConfig } from '../src/pg-listener.js';
import {
  afterThisTest,
  joinedClient,
  type RunningHub,
  startHub,
  startInstances,
  type TestClient,
  type TestUser,
  waitFor,
} from './helpers/hubs.js';

const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const bob: TestUser = { name: 'bob', restaurantId: 'b' };
/** Short enough for a quick failover, long enough that a busy machine keeps its leader. */
const LEASE_MS = 2000;
/** Generous: the machine is small and shared. */
const SLOW = 15_000;

type Ticket = { restaurantId: string; ticket: number };

/** The mapper of the examples: a ticket's notification goes to its restaurant's room. */
const ticketUpdates = (payload: unknown) => {
  const ticket = payload as Ticket;
  return {
    room: `restaurant:${ticket.restaurantId}`,
    event: { eventType: 'ticket-updated', payload: ticket },
  };
};

/** A fresh database, dropped after the test. */
async function database() {
  const db = await createDatabase('pg_bridge');
  afterThisTest(() => db.drop());
  return db;
}

/** A plain connection to send NOTIFYs and SQL with, closed after the test. */
async function sqlClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

function startBridge(options: Partial<PgBridgeOptions> & { hub: PgBridgeOptions['hub'] }) {
  const bridge = createPgBridge({
    channels: { ticket_updates: ticketUpdates },
    leaseMs: LEASE_MS,
    logger: false,
    ...options,
  });
  afterThisTest(() => bridge.close());
  return bridge;
}

async function notify(sql: pg.Client, channel: string, payload: unknown): Promise<void> {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  await sql.query('SELECT pg_notify($1, $2)', [channel, text]);
}

function tickets(client: TestClient): number[] {
  return client
    .events()
    .filter((e) => e.eventType === 'ticket-updated')
    .map((e) => (e.payload as Ticket).ticket);
}

const listening = (bridges: PgBridge[]) => bridges.filter((b) => b.stats().listening);
const leaders = (bridges: PgBridge[]) => bridges.filter((b) => b.stats().leader);

let flushes = 0;
/**
 * Waits until every client has seen a marker published by every hub after now. Each hub
 * reaches the others over one Redis connection, in order, so anything a bridge published
 * into a hub before its marker (a duplicate included) has arrived once the marker has.
 */
async function flush(hubs: RunningHub[], clients: TestClient[], room = 'restaurant:a') {
  const token = `flush-${++flushes}`;
  for (const [i, { hub }] of hubs.entries()) {
    hub.publish(room, { eventType: 'flush', payload: `${token}:${i}` });
  }
  await waitFor(
    `every client to see ${token} from every hub`,
    () =>
      clients.every(
        (c) =>
          c.events().filter((e) => String(e.payload).startsWith(`${token}:`)).length ===
          hubs.length,
      ),
    SLOW,
  );
}

describe('createPgBridge', () => {
  it('delivers a NOTIFY to the clients of its room exactly once with three bridges on three instances', async () => {
    const db = await database();
    const redis = await redisUrl();
    const prefix = keyPrefix('pg-bridge');
    afterThisTest(() => cleanupPrefix(redis, prefix));
    const hubs = await startInstances(3);
    const sql = await sqlClient(db.url);
    const bridges = hubs.map(({ hub }, i) =>
      startBridge({ hub, connectionString: db.url, redis, prefix, instanceId: `bridge-${i + 1}` }),
    );
    const clients = await Promise.all(
      hubs.map((h) => joinedClient(h.wsUrl, alice, 'restaurant:a')),
    );
    await waitFor(
      'one leader, listening',
      () => leaders(bridges).length === 1 && listening(bridges).length === 1,
      SLOW,
    );

    for (let ticket = 1; ticket <= 5; ticket++) {
      await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket });
    }
    await waitFor(
      'five tickets at every client',
      () => clients.every((c) => tickets(c).length >= 5),
      SLOW,
    );
    await flush(hubs, clients);
    for (const client of clients) expect(tickets(client)).toEqual([1, 2, 3, 4, 5]);
    expect(bridges.map((b) => b.stats().published).sort()).toEqual([0, 0, 5]);
    expect(bridges.filter((b) => b.stats().received > 0)).toHaveLength(1);

    // A leader that closes gives its lease back: another one takes over, once.
    const first = leaders(bridges)[0]!;
    await first.close();
    const rest = bridges.filter((b) => b !== first);
    await waitFor(
      'another leader, listening',
      () => leaders(rest).length === 1 && listening(rest).length === 1,
      SLOW,
    );
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 6 });
    await waitFor(
      'ticket 6 at every client',
      () => clients.every((c) => tickets(c).includes(6)),
      SLOW,
    );
    await flush(hubs, clients);
    for (const client of clients) expect(tickets(client)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('drops, counts and logs malformed notifications, and keeps working', async () => {
    const db = await database();
    const { hub, wsUrl } = await startHub({ redis: false });
    const sql = await sqlClient(db.url);
    const logger = recordingLogger();
    const registry = new Registry();
    const bridge = startBridge({
      hub,
      connectionString: db.url,
      redis: false,
      logger,
      registry,
      channels: {
        ticket_updates: {
          payload: 'json',
          map: (payload) => {
            const p = payload as Record<string, unknown>;
            if (p.explode) throw new Error('boom');
            if (p.skip) return null;
            if (p.numericRoom) return { room: 42, event: { eventType: 'x' } } as never;
            if (p.noEventType) return { room: 'restaurant:a', event: { payload: 1 } } as never;
            return ticketUpdates(payload);
          },
        },
        // payload 'auto': a payload that is not JSON reaches the mapper as a string.
        kitchen_notes: (note) => ({
          room: 'restaurant:a',
          event: { eventType: 'note', payload: note },
        }),
      },
    });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    await waitFor('the bridge to listen', () => bridge.stats().listening, SLOW);
    expect(bridge.stats()).toMatchObject({ mode: 'single', leader: true });

    await notify(sql, 'ticket_updates', 'not json {');
    await notify(sql, 'ticket_updates', 'still not json');
    await notify(sql, 'ticket_updates', { explode: true });
    await notify(sql, 'ticket_updates', { numericRoom: true });
    await notify(sql, 'ticket_updates', { noEventType: true });
    await notify(sql, 'ticket_updates', { skip: true });
    await notify(sql, 'kitchen_notes', 'table 4 wants no onions');
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 1 });

    // One session delivers in commit order: once ticket 1 is here, all the rest was handled.
    await waitFor('ticket 1', () => tickets(client).includes(1), SLOW);
    expect(bridge.stats()).toMatchObject({
      received: 8,
      published: 2,
      skipped: 1,
      malformed: 5,
      fenced: 0,
      failed: 0,
    });
    expect(client.events().find((e) => e.eventType === 'note')?.payload).toBe(
      'table 4 wants no onions',
    );
    const drops = logger.lines.filter((line) => line.includes('dropped a notification'));
    // Two notifications that were not JSON, one line: the log is rate-limited per reason.
    expect(drops.filter((line) => line.includes('payload is not JSON'))).toHaveLength(1);
    expect(drops.some((line) => line.includes('mapper threw: boom'))).toBe(true);
    expect(drops.some((line) => line.includes('the hub refused the event'))).toBe(true);
    expect(logger.lines.some((line) => line.includes('single instance'))).toBe(true);
    const metrics = await registry.metrics();
    expect(metrics).toContain('bancada_realtime_bridge_notifications_total{outcome="malformed"} 5');
    expect(metrics).toContain('bancada_realtime_bridge_notifications_total{outcome="published"} 2');
    expect(metrics).toContain('bancada_realtime_bridge_listening 1');
  });

  it('hands over to another instance when the leader can no longer renew its lease', async () => {
    const db = await database();
    const redis = await redisUrl();
    const prefix = keyPrefix('pg-bridge');
    afterThisTest(() => cleanupPrefix(redis, prefix));
    // The leader reaches Redis through a proxy: cut, it neither renews nor releases, as if
    // its process had died.
    const proxy = await faultProxy(redis);
    afterThisTest(() => proxy.close());
    const hubs = await startInstances(2);
    const sql = await sqlClient(db.url);
    const common = { connectionString: db.url, prefix };
    const a = startBridge({
      ...common,
      hub: hubs[0]!.hub,
      redis: proxy.url(redis),
      instanceId: 'bridge-a',
    });
    await waitFor(
      'bridge A to lead and listen',
      () => a.stats().leader && a.stats().listening,
      SLOW,
    );
    const b = startBridge({ ...common, hub: hubs[1]!.hub, redis, instanceId: 'bridge-b' });
    await waitFor('bridge B to follow A', () => b.stats().leaderId === 'bridge-a', SLOW);
    const clients = await Promise.all(
      hubs.map((h) => joinedClient(h.wsUrl, alice, 'restaurant:a')),
    );
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 1 });
    await waitFor('ticket 1 everywhere', () => clients.every((c) => tickets(c).includes(1)), SLOW);

    proxy.cut();
    // A steps down before its lease can run out in Redis; B takes over once it has.
    await waitFor(
      'A to step down and stop listening',
      () => !a.stats().leader && !a.stats().listening,
      LEASE_MS + SLOW,
    );
    await waitFor(
      'B to take over within the lease time',
      () => b.stats().leader && b.stats().listening,
      LEASE_MS + SLOW,
    );
    expect(a.stats().leader).toBe(false);

    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 2 });
    await waitFor('ticket 2 everywhere', () => clients.every((c) => tickets(c).includes(2)), SLOW);
    await flush(hubs, clients);
    for (const client of clients) expect(tickets(client)).toEqual([1, 2]);
    expect(a.stats().published).toBe(1);
    expect(b.stats().published).toBe(1);

    // Back on Redis, A finds B leading and stays a follower.
    proxy.restore();
    await waitFor('A to see B lead', () => a.stats().leaderId === 'bridge-b', SLOW);
    expect(a.stats()).toMatchObject({ leader: false, listening: false });

    // And when B goes, A leads and listens once more.
    await b.close();
    await waitFor('A to lead and listen again', () => a.stats().listening, LEASE_MS + SLOW);
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 3 });
    await waitFor('ticket 3 everywhere', () => clients.every((c) => tickets(c).includes(3)), SLOW);
    await flush(hubs, clients);
    for (const client of clients) expect(tickets(client)).toEqual([1, 2, 3]);
  });

  it('LISTENs again after the Postgres connection is cut and restored', async () => {
    const db = await database();
    const proxy = await faultProxy(db.url);
    afterThisTest(() => proxy.close());
    const { hub, wsUrl } = await startHub({ redis: false });
    const sql = await sqlClient(db.url);
    const logger = recordingLogger();
    const bridge = startBridge({
      hub,
      connectionString: proxy.url(db.url),
      redis: false,
      logger,
    });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    await waitFor('the bridge to listen', () => bridge.stats().listening, SLOW);
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 1 });
    await waitFor('ticket 1', () => tickets(client).includes(1), SLOW);

    proxy.cut();
    await waitFor('the bridge to notice', () => !bridge.stats().listening, SLOW);
    // Nobody listens now: NOTIFY is not durable, so this one is lost (as documented).
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 2 });
    proxy.restore();
    await waitFor(
      'the bridge to LISTEN again',
      () => bridge.stats().listening && bridge.stats().connects === 2,
      SLOW,
    );
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 3 });
    await waitFor('ticket 3', () => tickets(client).includes(3), SLOW);
    expect(tickets(client)).toEqual([1, 3]);
    expect(logger.lines.filter((line) => line.includes('lost Postgres'))).toHaveLength(1);
    expect(
      logger.lines.filter((line) => line.includes('listening on ticket_updates again')),
    ).toHaveLength(1);
  });

  it('replaces a LISTEN connection that stopped answering (a frozen network)', async () => {
    const db = await database();
    const proxy = await faultProxy(db.url);
    afterThisTest(() => proxy.close());
    const { hub, wsUrl } = await startHub({ redis: false });
    const sql = await sqlClient(db.url);
    const logger = recordingLogger();
    const bridge = startBridge({
      hub,
      connectionString: proxy.url(db.url),
      redis: false,
      logger,
      healthCheckMs: 200,
    });
    const client = await joinedClient(wsUrl, alice, 'restaurant:a');
    await waitFor('the bridge to listen', () => bridge.stats().listening, SLOW);

    // No error, no end: only the health check can tell this connection is gone.
    proxy.freeze();
    await waitFor('the health check to give up on it', () => !bridge.stats().listening, SLOW);
    proxy.restore();
    await waitFor(
      'the bridge to LISTEN again',
      () => bridge.stats().listening && bridge.stats().connects >= 2,
      SLOW,
    );
    await notify(sql, 'ticket_updates', { restaurantId: 'a', ticket: 1 });
    await waitFor('ticket 1', () => tickets(client).includes(1), SLOW);
    expect(tickets(client)).toEqual([1]);
    expect(logger.lines.some((line) => line.includes('health check timed out'))).toBe(true);
  });

  it('carries rows from an AFTER INSERT trigger to their restaurant only', async () => {
    const db = await database();
    const redis = await redisUrl();
    const prefix = keyPrefix('pg-bridge');
    afterThisTest(() => cleanupPrefix(redis, prefix));
    const sql = await sqlClient(db.url);
    await sql.query(`
      CREATE TABLE tickets (
        id serial PRIMARY KEY,
        restaurant_id text NOT NULL,
        status text NOT NULL
      );
      CREATE FUNCTION notify_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('ticket_updates', row_to_json(NEW)::text);
        RETURN NEW;
      END
      $$;
      CREATE TRIGGER tickets_notify AFTER INSERT ON tickets
        FOR EACH ROW EXECUTE FUNCTION notify_ticket();
    `);
    const [running] = await startInstances(1);
    const { hub, wsUrl } = running!;
    // A pool is only a template: the bridge opens its own Client with its settings.
    const pool = new pg.Pool({ connectionString: db.url });
    afterThisTest(() => pool.end());
    const bridge = startBridge({
      hub,
      client: pool,
      redis,
      prefix,
      channels: {
        ticket_updates: (row) => {
          const ticket = row as { id: number; restaurant_id: string; status: string };
          return {
            room: `restaurant:${ticket.restaurant_id}`,
            event: { eventType: 'ticket-created', payload: ticket },
          };
        },
      },
    });
    const clientA = await joinedClient(wsUrl, alice, 'restaurant:a');
    const clientB = await joinedClient(wsUrl, bob, 'restaurant:b');
    await waitFor('the bridge to listen', () => bridge.stats().listening, SLOW);

    // A rolled-back insert notifies nobody: NOTIFY is sent at commit.
    await sql.query('BEGIN');
    await sql.query(`INSERT INTO tickets (restaurant_id, status) VALUES ('a', 'rolled back')`);
    await sql.query('ROLLBACK');
    await sql.query(`INSERT INTO tickets (restaurant_id, status) VALUES ('a', 'new')`);
    await sql.query(`INSERT INTO tickets (restaurant_id, status) VALUES ('b', 'new')`);
    const created = (c: TestClient) => c.events().filter((e) => e.eventType === 'ticket-created');
    await waitFor(
      'both tickets',
      () => created(clientA).length + created(clientB).length >= 2,
      SLOW,
    );
    await flush([running!], [clientA], 'restaurant:a');
    await flush([running!], [clientB], 'restaurant:b');
    expect(created(clientA).map((e) => e.payload)).toEqual([
      { id: 2, restaurant_id: 'a', status: 'new' },
    ]);
    expect(created(clientB).map((e) => e.payload)).toEqual([
      { id: 3, restaurant_id: 'b', status: 'new' },
    ]);
    expect(pool.totalCount).toBe(0);
  });

  it('gives the server the bound it gives up a LISTEN session at, unless told otherwise', () => {
    expect(listenerClientConfig({ connectionString: 'postgres://x/y' }, 15_000)).toMatchObject({
      statement_timeout: 5000,
      idle_in_transaction_session_timeout: 5000,
    });
    expect(listenerClientConfig({ statement_timeout: 60_000 }, 200)).toMatchObject({
      statement_timeout: 60_000,
      idle_in_transaction_session_timeout: 1000,
    });
  });

  it('refuses options that cannot work with a TypeError', () => {
    const hub = { publish() {} };
    const url = 'postgres://postgres@127.0.0.1:5432/postgres';
    const make = (options: Record<string, unknown>) => () =>
      createPgBridge({ hub, connectionString: url, channels: { c: ticketUpdates }, ...options });
    expect(make({ channels: {} })).toThrow(/at least one channel/);
    expect(make({ channels: { c: 'nope' } })).toThrow(/channel "c" must have a mapper/);
    expect(make({ channels: { c: { payload: 'xml', map: ticketUpdates } } })).toThrow(
      /payload must be one of auto, json, text/,
    );
    expect(make({ channels: { ['x'.repeat(64)]: ticketUpdates } })).toThrow(/1 to 63 bytes/);
    expect(make({ client: { host: 'localhost' } })).toThrow(/not both/);
    expect(make({ connectionString: 'mysql://x' })).toThrow(/postgres:\/\//);
    expect(make({ leaseMs: 0 })).toThrow(/leaseMs must be a whole number of at least 300/);
    expect(make({ redis: 'localhost:6379' })).toThrow(/redis:\/\//);
    expect(make({ hub: {} })).toThrow(/hub must be/);
    expect(make({ leaseMs: 0 })).toThrow(TypeError);
  });
});
