import { createHub, type Hub, type HubOptions } from '@bancada/realtime';
import {
  headerAuthenticate,
  type RunningHub as Running,
  serveHub,
  serveInstances,
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

/** Several hubs on the shared test Redis, under one fresh prefix: instances of one app. */
export function startInstances(
  count: number,
  options: Partial<HubOptions> = {},
): Promise<RunningHub[]> {
  return serveInstances(count, 'pg-bridge', (shared) =>
    createHub({ authenticate: headerAuthenticate, logger: false, ...shared, ...options }),
  );
}
