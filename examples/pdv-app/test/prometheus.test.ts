import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  checkMetricsText,
  cleanupPrefix,
  createDatabase,
  freePort,
  keyPrefix,
  type PrometheusSample,
  type RunningProcess,
  redisUrl,
  runNode,
  startPrometheus,
  type TestDatabase,
  waitFor,
} from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCookie, type RunningPdv, startPdv } from './helpers/instances.js';
import { openScreen, type Screen } from './helpers/screens.js';

// The app's /metrics as Prometheus sees it: its linter, then the Grafana dashboard's every
// query through a real Prometheus scraping the app and a bancada-worker.

interface Panel {
  title: string;
  datasource: { uid: string };
  targets: Array<{ expr: string; refId: string }>;
}

const dashboard = JSON.parse(
  readFileSync(new URL('../deploy/grafana-dashboard.json', import.meta.url), 'utf8'),
) as { panels: Panel[]; templating: { list: Array<{ name: string; allValue: string }> } };

/** A panel's query as Grafana sends it with every instance selected. */
function asGrafanaSends(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.+');
}

let db: TestDatabase;
let redis: string;
const prefix = keyPrefix('pdv-prometheus');
let pdv: RunningPdv;
/** Logged in before any failed login: a failure from this address then blocks logins here. */
let cookie: string;
const screens: Screen[] = [];

beforeAll(async () => {
  db = await createDatabase('pdv_prometheus');
  redis = await redisUrl();
  // One failed login per address: the second is a limit rejection for the dashboard.
  pdv = await startPdv({ databaseUrl: db.url, redisUrl: redis, prefix, loginAttempts: 1 });
  await pdv.pdv.hub.ready(5_000);
  cookie = await loginCookie(pdv.url, 'ana@sol.demo', 'demo-pdv');
});

afterAll(async () => {
  for (const screen of screens.splice(0)) screen.close();
  await pdv?.close();
  await db?.drop();
  if (redis) await cleanupPrefix(redis, prefix);
});

/**
 * What a restaurant's shift does: a kitchen screen, an order, the plan's limits (once loaded,
 * once cached), and someone guessing a password until the login limit turns them away.
 */
async function work(): Promise<void> {
  const kitchen = await openScreen(pdv.url, cookie, 'sol');
  screens.push(kitchen);
  const headers = { cookie, 'content-type': 'application/json' };
  const menu = (await (await fetch(`${pdv.url}/api/menu`, { headers })).json()) as {
    items: Array<{ id: number }>;
  };
  const created = await fetch(`${pdv.url}/api/orders`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ table: '4', items: [{ menuItemId: menu.items[0]!.id, qty: 2 }] }),
  });
  expect(created.status).toBe(201);
  const order = (await created.json()) as { id: number };
  await waitFor('the order on the kitchen screen', () => kitchen.eventsOf(order.id).length > 0);
  for (let i = 0; i < 2; i++) {
    expect((await fetch(`${pdv.url}/api/subscription/limits`, { headers })).status).toBe(200);
  }
  const wrong = () =>
    fetch(`${pdv.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ana@sol.demo', password: 'not-the-password' }),
    });
  await wrong();
  expect((await wrong()).status).toBe(429);
}

describe('the PDV app and Prometheus', () => {
  it("serves /metrics that Prometheus's own linter accepts (promtool check metrics)", async () => {
    await work();
    const text = await (await fetch(`${pdv.url}/metrics`)).text();
    expect(text).toMatch(/bancada_realtime_connections\{transport="websocket"\} [1-9]/);
    expect(text).toMatch(/pdv_order_events_total\{event="order-created"\} [1-9]/);
    expect(text).toMatch(/bancada_limits_rejections_total\{limiter="login",reason="rate"\} [1-9]/);
    await checkMetricsText(text);
  });

  it('answers every panel of the Grafana dashboard from a real Prometheus', async () => {
    expect(dashboard.templating.list.map((v) => [v.name, v.allValue])).toEqual([
      ['instance', '.+'],
    ]);
    const titles = dashboard.panels.map((panel) => panel.title);
    expect(titles).toEqual([
      'Connections',
      'Deliveries/s',
      'Broadcast latency p99',
      'Degraded (per package)',
      'Fan-out dropped and missed',
      'Cache hit rate per tier',
      'Limit rejections/s',
      'Worker lag and pending',
    ]);
    // The data source is asked for on import (the dashboard's one input).
    const input = ['$', '{DS_PROMETHEUS}'].join('');
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe(input);

    // The worker panels: a bancada-worker persisting a stream of envelopes, as the worker's
    // README runs it, serving its metrics.
    const worker = await startWorker();
    const prometheus = await startPrometheus({
      jobs: { pdv: [`127.0.0.1:${pdv.port}`], worker: [`127.0.0.1:${worker.metricsPort}`] },
      scrapeIntervalMs: 500,
    });
    try {
      // After the first scrape, so that every rate sees the work happen.
      await work();
      const answers = new Map<string, PrometheusSample[]>();
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const expr = asGrafanaSends(target.expr);
          let answer: PrometheusSample[] = [];
          await waitFor(
            `a number for "${panel.title}" (${target.refId}): ${expr}`,
            async () => {
              answer = await prometheus.query(expr);
              return answer.length > 0 && answer.every((s) => Number.isFinite(Number(s.value[1])));
            },
            30_000,
          ).catch((error: Error) => {
            throw new Error(`${error.message}; last answer ${JSON.stringify(answer)}`);
          });
          answers.set(`${panel.title} ${target.refId}`, answer);
        }
      }
      const value = (key: string, labels: Record<string, string>) =>
        Number(
          answers.get(key)?.find((s) => Object.entries(labels).every(([k, v]) => s.metric[k] === v))
            ?.value[1],
        );
      expect(value('Connections A', { transport: 'websocket' })).toBeGreaterThanOrEqual(1);
      expect(value('Limit rejections/s A', { limiter: 'login', reason: 'rate' })).toBeGreaterThan(
        0,
      );
      expect(
        value('Degraded (per package) E', { instance: `127.0.0.1:${worker.metricsPort}` }),
      ).toBe(0);
      expect(value('Worker lag and pending B', {})).toBe(0);
    } finally {
      await prometheus.stop();
      worker.process.process.kill('SIGTERM');
      await worker.process.exited;
    }
  }, 180_000);
});

/** bancada-worker (the built command) on a stream of the test's own, with a few events in it. */
async function startWorker(): Promise<{ process: RunningProcess; metricsPort: number }> {
  const cli = join(
    dirname(createRequire(import.meta.url).resolve('@bancada/worker/package.json')),
    'dist/cli.js',
  );
  const metricsPort = await freePort();
  const stream = `${prefix}archive`;
  const worker = runNode(cli, [], {
    REDIS_URL: redis,
    DATABASE_URL: db.url,
    BANCADA_WORKER_STREAM: stream,
    BANCADA_WORKER_METRICS_PORT: String(metricsPort),
    BANCADA_WORKER_BATCH_TIMEOUT_MS: '50',
  });
  const client = new Redis(redis);
  try {
    for (let n = 0; n < 3; n++) {
      const event = {
        eventType: 'order-created',
        id: `archive-${n}`,
        payload: { n },
        ts: Date.now(),
      };
      await client.xadd(stream, '*', 'e', JSON.stringify(event));
    }
  } finally {
    client.disconnect();
  }
  await waitFor(
    'the worker to persist 3 events',
    async () => {
      const health = await fetch(`http://127.0.0.1:${metricsPort}/health`).catch(() => undefined);
      return health?.ok === true && ((await health.json()) as { inserted: number }).inserted === 3;
    },
    20_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${worker.stdout}\n${worker.stderr}`);
  });
  return { process: worker, metricsPort };
}
