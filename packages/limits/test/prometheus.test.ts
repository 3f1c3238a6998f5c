import {
  checkMetricsText,
  cleanupPrefix,
  familiesWithoutSamples,
  keyPrefix,
  redisUrl,
} from '@bancada/testkit';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRateLimits, connectionLimit, isRejection, rateLimit } from '../src/index.js';
import { fakeRequest } from './helpers/fake-request.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  await closeRateLimits();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the limits metrics', () => {
  it("pass Prometheus's own linter (promtool check metrics), every family with samples", async () => {
    const redis = await redisUrl();
    const prefix = keyPrefix('limits-prometheus');
    cleanups.push(() => cleanupPrefix(redis, prefix));
    const registry = new Registry();
    const connections = connectionLimit({
      maxPerIp: 1,
      redis,
      prefix: `${prefix}conn:`,
      registry,
      logger: false,
    });
    cleanups.push(() => connections.close());
    const held = await connections.acquire(fakeRequest('10.0.0.1'));
    expect(isRejection(held)).toBe(false);
    expect(await connections.acquire(fakeRequest('10.0.0.1'))).toMatchObject({ reason: 'per-ip' });

    const app = express();
    app.use(
      rateLimit({ redis, prefix: `${prefix}rl:`, limit: 1, name: 'api', registry, logger: false }),
    );
    app.get('/', (_req, res) => {
      res.json({ ok: true });
    });
    await request(app).get('/').expect(200);
    await request(app).get('/').expect(429);

    const text = await registry.metrics();
    expect(familiesWithoutSamples(text)).toEqual([]);
    expect(text).toContain(
      'bancada_limits_rejections_total{limiter="connections",reason="per-ip"} 1',
    );
    expect(text).toContain('bancada_limits_rejections_total{limiter="api",reason="rate"} 1');
    expect(text).toContain('bancada_limits_active_connections{limiter="connections"} 1');
    await checkMetricsText(text);
  });
});
