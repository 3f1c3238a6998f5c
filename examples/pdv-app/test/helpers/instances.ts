import { once } from 'node:events';
import { connect } from 'node:net';
import { recordingLogger, waitFor } from '@bancada/testkit';
import { createPdvApp, type PdvApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

export interface RunningPdv {
  url: string;
  port: number;
  instanceId: string;
  pdv: PdvApp;
  /** What the app logged, as `"<level> <message>"` lines. */
  logs: string[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** Unset: an embedded Postgres in memory. */
  databaseUrl?: string;
  /** Unset or false: no Redis (memory cache, local realtime). */
  redisUrl?: string | false;
  instanceId?: string;
  /** Redis key prefix: instances of one test share one, test files each have their own. */
  prefix?: string;
  loginAttempts?: number;
  sessionCheckMs?: number;
  maxConnectionsPerIp?: number;
  /** How long a Postgres call (app and sessions) may take; shorter in tests of slow databases. */
  databaseTimeoutMs?: number;
  accountLoginAttempts?: number;
  maxConcurrentHashes?: number;
  maxQueuedHashes?: number;
  sessionsPerUser?: number;
  /**
   * Sets OTEL_EXPORTER_OTLP_ENDPOINT, so that the app makes its request spans. Only
   * `npm start` starts the SDK that sends them there: a test registers its own.
   */
  otlpEndpoint?: string;
}

// Instances of one test must share it, or a session made on one is not valid on another.
export const TEST_SECRET = 'pdv-test-secret-pdv-test-secret-0123456789';

/** Starts the app as `npm start` would (through loadConfig), on a free port of 127.0.0.1. */
export async function startPdv(options: StartOptions = {}): Promise<RunningPdv> {
  const env: NodeJS.ProcessEnv = { SESSION_SECRET: TEST_SECRET, BANCADA_FANOUT: 'on' };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  if (options.redisUrl) env.REDIS_URL = options.redisUrl;
  if (options.instanceId) env.INSTANCE_ID = options.instanceId;
  if (options.otlpEndpoint) env.OTEL_EXPORTER_OTLP_ENDPOINT = options.otlpEndpoint;
  if (options.maxConnectionsPerIp) {
    env.PDV_MAX_CONNECTIONS_PER_IP = String(options.maxConnectionsPerIp);
  }
  const logger = recordingLogger();
  const pdv = await createPdvApp({
    config: loadConfig(env),
    logger,
    dataDir: 'memory://',
    prefix: options.prefix ?? 'pdv-test:',
    ...(options.loginAttempts !== undefined ? { loginAttempts: options.loginAttempts } : {}),
    ...(options.sessionCheckMs !== undefined ? { sessionCheckMs: options.sessionCheckMs } : {}),
    // Test files log in as the two demo users dozens of times, and keep sessions from their
    // start: the production bounds are tested with their own values (login-limits.test.ts).
    accountLoginAttempts: 10_000,
    sessionsPerUser: 10_000,
    ...pick(options, [
      'databaseTimeoutMs',
      'accountLoginAttempts',
      'maxConcurrentHashes',
      'maxQueuedHashes',
      'sessionsPerUser',
    ]),
  });
  const url = (await pdv.listen(0, '127.0.0.1')).replace('localhost', '127.0.0.1');
  return {
    url,
    port: Number(new URL(url).port),
    instanceId: pdv.instanceId,
    pdv,
    logs: logger.lines,
    close: () => pdv.close(),
  };
}

/** The options among `keys` that are set (the app's options take no `undefined`). */
function pick<T extends object, K extends keyof T>(options: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(
    keys.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]),
  ) as Partial<Pick<T, K>>;
}

/**
 * Logs in over HTTP and returns the `Cookie` header value a browser would send afterwards
 * (`sid=...; pdv_restaurant=...`), for Node clients.
 */
export async function loginCookie(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 200) {
    throw new Error(`login as ${email} failed: ${response.status} ${await response.text()}`);
  }
  const cookies = response.headers.getSetCookie().map((line) => line.split(';')[0]!);
  if (!cookies.some((c) => c.startsWith('sid='))) {
    throw new Error('login answered 200 without a session cookie');
  }
  return cookies.join('; ');
}

/**
 * Sends `head` (request line and headers, CRLF-separated) and the first bytes of `body`,
 * starts the drain, then sends the rest: a request in flight when the instance is told to stop. Resolves
 * with the raw answer once the connection is closed and the drain is over.
 */
export async function requestAcrossTheDrain(
  own: RunningPdv,
  head: string,
  body: string,
): Promise<string> {
  const requested = once(own.pdv.server, 'request');
  const socket = connect(own.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let answer = '';
  socket.on('data', (chunk) => {
    answer += chunk;
  });
  const ended = new Promise((resolve) => socket.once('close', resolve));
  socket.write(
    `${head}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
  );
  await requested; // its headers are in: the app is working on it
  const closing = own.close();
  await waitFor('the drain to begin', async () => (await own.pdv.health()).status === 'draining');
  socket.write(body.slice(10));
  await ended;
  await closing;
  return answer;
}
