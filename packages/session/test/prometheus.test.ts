import {
  checkMetricsText,
  createDatabase,
  familiesWithoutSamples,
  faultProxy,
  waitFor,
} from '@bancada/testkit';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createSession } from '../src/index.js';
import { appWith, sessionCookie } from './helpers/app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the session metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const db = await createDatabase('session_prometheus');
    cleanups.push(() => db.drop());
    const proxy = await faultProxy(db.url);
    cleanups.push(() => proxy.close());
    const registry = new Registry();
    const sessions = createSession({
      connectionString: proxy.url(db.url),
      secret: 'prometheus-secret-prometheus-000',
      logger: false,
      registry,
    });
    cleanups.push(() => sessions.close());
    const app = appWith(sessions);
    // The first store call creates the table, and may take longer than the store's bound.
    let login = await request(app).post('/login').send({ name: 'eva' });
    await waitFor('a first login', async () => {
      if (login.status !== 200) login = await request(app).post('/login').send({ name: 'eva' });
      return login.status === 200;
    });
    await request(app).get('/me').set('Cookie', sessionCookie(login)).expect(200);
    proxy.cut(); // one failed store call, so that the error counter has a sample too
    await request(app).get('/me').set('Cookie', sessionCookie(login)).expect(503);
    proxy.restore();

    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toMatch(/bancada_session_store_errors_total\{op="get"\} 1/);
    await checkMetricsText(text);
  });
});
