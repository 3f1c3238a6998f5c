import {
  afterThisTest,
  headerAuthenticate,
  type RunningHub as Running,
  redisUrl,
  serveHub,
  serveInstances,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import { createHub, type Hub, type HubOptions } from '../../src/index.js';

export {
  afterThisTest,
  connectClient,
  headerAuthenticate,
  joinedClient,
  openSse,
  type SseStream,
  type TestClient,
  type TestUser,
  upgradeRefusal,
  waitFor,
} from '@bancada/testkit';

export type RunningHub = Running<Hub>;

/**
 * A hub on its own HTTP server (port 0), WebSocket on /ws and SSE on /events, closed after
 * the test. Hubs of one test share a channel prefix unless told otherwise, so they stand for
 * instances of one app on one Redis.
 */
export function startHub(
  options: Partial<HubOptions> & { redis?: HubOptions['redis'] } = {},
): Promise<RunningHub> {
  return serveHub(createHub({ authenticate: headerAuthenticate, logger: false, ...options }));
}

/** Several hubs on the shared test Redis, under one fresh prefix: instances of one app. */
export function startInstances(
  count: number,
  options: Partial<HubOptions> = {},
): Promise<RunningHub[]> {
  return serveInstances(count, 'realtime', (shared) =>
    createHub({ authenticate: headerAuthenticate, logger: false, ...shared, ...options }),
  );
}

/** A plain ioredis connection to the test Redis, closed after the test. */
export async function rawRedis(url?: string): Promise<Redis> {
  const client = new Redis(url ?? (await redisUrl()));
  afterThisTest(() => client.disconnect());
  return client;
}
