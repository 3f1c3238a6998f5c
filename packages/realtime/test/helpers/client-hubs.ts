import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cleanupPrefix, keyPrefix, redisUrl } from '@bancada/testkit';
import { WebSocket } from 'ws';
import {
  type ClientEventMap,
  type ClientOptions,
  connect,
  type RealtimeClient,
} from '../../src/client/index.js';
import { createHub, type Hub, type HubOptions } from '../../src/index.js';
import { afterThisTest, headerAuthenticate, type TestUser } from './hubs.js';

/** A hub on an HTTP server whose port the test chooses, so that it can be restarted there. */
export interface HubServer {
  hub: Hub;
  server: Server;
  port: number;
  /** ws://127.0.0.1:<port>/ws */
  wsUrl: string;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  /** Closes the hub (clients get 1012 and their retry delay), then the server. */
  stop(): Promise<void>;
}

/** Redis and a fresh channel prefix, so that several hubs stand for one app's instances. */
export async function sharedRedis(): Promise<{ redis: string; prefix: string }> {
  const redis = await redisUrl();
  const prefix = keyPrefix('realtime-client');
  afterThisTest(() => cleanupPrefix(redis, prefix));
  return { redis, prefix };
}

/**
 * A hub with WebSocket on /ws and SSE on /events, on `port` (0: any), stopped after the
 * test if the test did not stop it. `routes` may answer other requests (return true).
 */
export async function startHubAt(
  port: number,
  options: Partial<HubOptions>,
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<HubServer> {
  const hub = createHub({ authenticate: headerAuthenticate, logger: false, ...options });
  const sse = hub.sse();
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/events')) sse(req, res);
    else if (!routes?.(req, res)) res.writeHead(404).end();
  });
  hub.attach(server, { path: '/ws' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    })();
    return stopping;
  };
  afterThisTest(stop);
  if (!(await hub.ready(5000))) throw new Error('the hub did not connect to Redis within 5 s');
  return {
    hub,
    server,
    port: bound,
    wsUrl: `ws://127.0.0.1:${bound}/ws`,
    httpUrl: `http://127.0.0.1:${bound}`,
    stop,
  };
}

/** Everything a client emitted, in order. */
export interface RecordedClient {
  client: RealtimeClient;
  events: Array<ClientEventMap['event']>;
  gaps: Array<ClientEventMap['gap']>;
  states: Array<ClientEventMap['state']>;
  errors: Array<ClientEventMap['error']>;
  joined: Array<ClientEventMap['joined']>;
  /** The payloads of the events. */
  payloads(): unknown[];
}

/** Quick reconnects, for tests; each test may override. */
export const TEST_BACKOFF = { initialMs: 20, maxMs: 200 } as const;

/**
 * Connects the client SDK as `user` (the hub reads the x-test-user header, as it would read
 * a session cookie) and records what it emits; closed after the test.
 */
export function recordClient(
  url: string,
  user: TestUser | undefined,
  options: ClientOptions = {},
): RecordedClient {
  const headers: Record<string, string> = user ? { 'x-test-user': JSON.stringify(user) } : {};
  const client = connect(url, {
    createWebSocket: (target) => new WebSocket(target, { headers }),
    backoff: TEST_BACKOFF,
    ...options,
  });
  afterThisTest(() => client.close());
  return record(client);
}

/** A fetch that sends the x-test-user header, for the SSE transport. */
export function fetchAs(user: TestUser): NonNullable<ClientOptions['sse']>['fetch'] {
  return (url, init) =>
    fetch(url, { ...init, headers: { ...init.headers, 'x-test-user': JSON.stringify(user) } });
}

export function record(client: RealtimeClient): RecordedClient {
  const recorded: RecordedClient = {
    client,
    events: [],
    gaps: [],
    states: [],
    errors: [],
    joined: [],
    payloads: () => recorded.events.map((e) => e.payload),
  };
  client.on('event', (e) => recorded.events.push(e));
  client.on('gap', (g) => recorded.gaps.push(g));
  client.on('state', (s) => recorded.states.push(s));
  client.on('error', (e) => recorded.errors.push(e));
  client.on('joined', (j) => recorded.joined.push(j));
  return recorded;
}

/** Publishes events whose payloads are `from`, `from + 1`... in order. */
export async function publishNumbers(
  hub: Pick<Hub, 'publish'>,
  room: string,
  from: number,
  count: number,
): Promise<void> {
  for (let n = from; n < from + count; n++)
    await hub.publish(room, { eventType: 'tick', payload: n });
}

/** [from, ..., to - 1] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
