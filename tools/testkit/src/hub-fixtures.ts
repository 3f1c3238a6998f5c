import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { cleanupPrefix, keyPrefix } from './key-prefix.js';
import { redisUrl } from './redis-url.js';
import { waitFor } from './wait-for.js';

// Test fixtures for a realtime hub: an HTTP server that serves it, and WebSocket and SSE
// clients that record what they receive. They know the hub only by the shape below, so the
// packages that test against a hub (realtime itself, pg-bridge) share them.

/** The principal a test client claims through a header; the hub reads it server-side. */
export interface TestUser {
  name: string;
  restaurantId?: string;
}

/** Stands for a session lookup: the user is whatever the x-test-user header says. */
export async function headerAuthenticate(req: IncomingMessage): Promise<TestUser | null> {
  const header = req.headers['x-test-user'];
  return typeof header === 'string' ? (JSON.parse(header) as TestUser) : null;
}

/** What serveHub needs of a hub. */
export interface ServableHub {
  attach(server: Server, options: { path: string }): unknown;
  sse(): (req: IncomingMessage, res: import('node:http').ServerResponse) => void;
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RunningHub<H extends ServableHub = ServableHub> {
  hub: H;
  server: Server;
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  // Every cleanup runs, even after one failed: a hub left open would retry Redis for ever.
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'a cleanup after the test failed');
});

/** Runs `fn` after the current test, last registered first. */
export function afterThisTest(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn);
}

/**
 * Serves `hub` on its own HTTP server (port 0): WebSocket on /ws, SSE on /events; both are
 * closed after the test. Waits until the hub is connected to Redis, if it uses Redis.
 */
export async function serveHub<H extends ServableHub>(hub: H): Promise<RunningHub<H>> {
  const sse = hub.sse();
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/events')) sse(req, res);
    else res.writeHead(404).end();
  });
  hub.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  afterThisTest(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  if (!(await hub.ready(5000))) throw new Error('the hub did not connect to Redis within 5 s');
  return { hub, server, wsUrl: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}` };
}

/**
 * `count` hubs served as instances of one app on the shared test Redis, under one fresh
 * prefix (removed after the test): `make` builds each from the settings it must share.
 */
export async function serveInstances<H extends ServableHub>(
  count: number,
  name: string,
  make: (shared: { redis: string; prefix: string; instanceId: string }) => H,
): Promise<Array<RunningHub<H>>> {
  const redis = await redisUrl();
  const prefix = keyPrefix(name);
  afterThisTest(() => cleanupPrefix(redis, prefix)); // history streams, if any
  const hubs: Array<RunningHub<H>> = [];
  for (let i = 0; i < count; i++) {
    hubs.push(await serveHub(make({ redis, prefix, instanceId: `hub-${i + 1}` })));
  }
  return hubs;
}

/** What a test client received, and ways to wait for it. */
export interface TestClient {
  ws: WebSocket;
  /** Every text frame, parsed. */
  messages: Array<Record<string, unknown>>;
  /** The `event` frames only. */
  events(): Array<Record<string, unknown>>;
  send(message: unknown): void;
  /** Waits for a frame that matches, among those received so far or still to come. */
  next(
    match: (m: Record<string, unknown>) => boolean,
    what?: string,
  ): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Connects a WebSocket client as `user` (none: anonymous), closed after the test. */
export async function connectClient(
  url: string,
  user?: TestUser,
  options: { origin?: string; autoPong?: boolean } = {},
): Promise<TestClient> {
  const headers: Record<string, string> = {};
  if (user) headers['x-test-user'] = JSON.stringify(user);
  const ws = new WebSocket(url, {
    headers,
    origin: options.origin,
    autoPong: options.autoPong ?? true, // ws takes an explicit undefined as false
  });
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  afterThisTest(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    events: () => messages.filter((m) => m.type === 'event'),
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    async next(match, what = 'a matching message') {
      await waitFor(what, () => messages.some(match));
      return messages.find(match)!;
    },
    closed,
  };
}

/** Connects and joins `room`, waiting for the `joined` reply. */
export async function joinedClient(url: string, user: TestUser, room: string): Promise<TestClient> {
  const client = await connectClient(url, user);
  client.send({ type: 'subscribe', room });
  await client.next((m) => m.type === 'joined' && m.room === room, `joined ${room}`);
  return client;
}

/** The status, headers and body of a refused WebSocket upgrade. */
export function upgradeRefusal(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => {});
  });
}

/** An SSE stream read as text, closed after the test. */
export interface SseStream {
  status: number;
  headers: IncomingMessage['headers'];
  text(): string;
  /** The events received so far: `{ id, event, data }`. */
  events(): Array<{ id?: string; event?: string; data: string }>;
  ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, user?: TestUser, headers: Record<string, string> = {}) {
  return new Promise<SseStream>((resolve, reject) => {
    const all = { ...headers };
    if (user) all['x-test-user'] = JSON.stringify(user);
    const req = request(url, { headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      const ended = new Promise<void>((done) => res.once('close', () => done()));
      afterThisTest(() => req.destroy());
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        events: () => parseSse(text),
        ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function parseSse(text: string): Array<{ id?: string; event?: string; data: string }> {
  const events: Array<{ id?: string; event?: string; data: string }> = [];
  for (const block of text.split('\n\n')) {
    const fields: { id?: string; event?: string; data?: string } = {};
    for (const line of block.split('\n')) {
      const colon = line.indexOf(': ');
      if (colon <= 0) continue;
      const name = line.slice(0, colon);
      const value = line.slice(colon + 2);
      if (name === 'id' || name === 'event' || name === 'data') fields[name] = value;
    }
    if (fields.data !== undefined) events.push({ ...fields, data: fields.data });
  }
  return events;
}
