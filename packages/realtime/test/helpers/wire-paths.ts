import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AttachOptions,
  type Authorize,
  createHub,
  type Encode,
  type Hub,
  type HubOptions,
  type RoomsOf,
  type SseOptions,
} from '../../src/index.js';
import { afterThisTest, headerAuthenticate, type TestUser } from './hubs.js';

/**
 * The app of the story: food vendors whose dashboards connect to `/ws?vendorId=7` and read
 * `{ type: 'NEW_ORDER', order }`, written for one process before the hub came.
 */
export interface Vendor extends TestUser {
  vendorId: string;
}

export const vendor7: Vendor = { name: 'pastelaria', vendorId: '7' };

/** A vendor may have its own room, `vendor:<id>`, and nothing else. */
export const vendorRooms: Authorize = (principal, room) =>
  room === `vendor:${(principal as Vendor).vendorId}`;

/** The room the dashboard's URL names: `/ws?vendorId=7` is `vendor:7`. */
export const vendorOfUrl: RoomsOf = (req) => {
  const id = new URL(req.url ?? '/', 'http://localhost').searchParams.get('vendorId');
  return id === null ? undefined : `vendor:${id}`;
};

/** The dashboard's format: `{ type: 'NEW_ORDER', order }`. */
export const legacyEncode: Encode = (e) => JSON.stringify({ type: e.eventType, order: e.payload });

export interface ServedPaths {
  hub: Hub;
  /** `ws://127.0.0.1:<port>` + `pathAndQuery` */
  ws(pathAndQuery: string): string;
  /** `http://127.0.0.1:<port>` */
  httpUrl: string;
}

/**
 * A hub on its own HTTP server (port 0) with the WebSocket paths `attach` lists and the SSE
 * handlers `sse` maps from their paths, closed after the test.
 */
export async function servePaths(
  options: Partial<HubOptions>,
  attach: AttachOptions[],
  sse: Record<string, SseOptions> = {},
): Promise<ServedPaths> {
  const hub = createHub({
    authenticate: headerAuthenticate,
    authorize: vendorRooms,
    logger: false,
    redis: false,
    ...options,
  });
  const handlers = new Map(Object.entries(sse).map(([path, o]) => [path, hub.sse(o)]));
  const server = createServer((req: IncomingMessage, res) => {
    const handler = handlers.get((req.url ?? '/').split('?')[0]!);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  for (const path of attach) hub.attach(server, path);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  afterThisTest(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  if (!(await hub.ready(5000))) throw new Error('the hub did not connect to Redis within 5 s');
  return {
    hub,
    ws: (pathAndQuery) => `ws://127.0.0.1:${port}${pathAndQuery}`,
    httpUrl: `http://127.0.0.1:${port}`,
  };
}
