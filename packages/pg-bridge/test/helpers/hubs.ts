import { createHub, type Hub, type HubOptions } from '@bancada/realtime';
import {
  afterThisTest,
  cleanupPrefix,
  headerAuthenticate,
  keyPrefix,
  type RunningHub as Running,
  redisUrl,
  serveHub,
} from '@bancada/testkit';

export {
  afterThisTest,
  joinedClient,
  type TestClient,
  type TestUser,
  waitFor,
} from '@bancada/testkit';

export type RunningHub = Running<Hub>;

/** A hub of @bancada/realtime on its own HTTP server, as the bridge's target; closed after the test. */
export function startHub(options: Partial<HubOptions> = {}): Promise<RunningHub> {
  return serveHub(createHub({ authenticate: headerAuthenticate, logger: false, ...options }));
}

/** Several hubs on the shared test Redis under one fresh prefix: instances of one app. */
export async function startInstances(
  count: number,
  options: Partial<HubOptions> = {},
): Promise<RunningHub[]> {
  const redis = await redisUrl();
  const prefix = keyPrefix('pg-bridge');
  afterThisTest(() => cleanupPrefix(redis, prefix));
  const hubs: RunningHub[] = [];
  for (let i = 0; i < count; i++) {
    hubs.push(await startHub({ redis, prefix, instanceId: `hub-${i + 1}`, ...options }));
  }
  return hubs;
}
