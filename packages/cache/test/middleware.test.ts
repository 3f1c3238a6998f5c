import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type Cache, cacheResponse } from '../src/index.js';
import { instances, waitFor } from './helpers/fixtures.js';

const caches = instances('middleware');

/** An app whose handlers count how often they really run. */
function appWith(cache: Cache, options: Parameters<typeof cacheResponse>[1] = {}) {
  const app = express();
  const runs = { count: 0 };
  const cached = cacheResponse(cache, { ttlSeconds: 60, ...options });
  app.get('/limits', cached, (_req, res) => {
    runs.count++;
    res.set('ETag', '"v1"').json({ tables: 12, count: runs.count });
  });
  app.get('/with-cookie', cached, (_req, res) => {
    runs.count++;
    res.cookie('sid', 'abc').json({ count: runs.count });
  });
  app.get('/no-store', cached, (_req, res) => {
    runs.count++;
    res.set('Cache-Control', 'no-store').json({ count: runs.count });
  });
  app.get('/private', cached, (_req, res) => {
    runs.count++;
    res.set('Cache-Control', 'private, max-age=60').json({ count: runs.count });
  });
  app.get('/missing', cached, (_req, res) => {
    runs.count++;
    res.status(404).json({ error: 'not found' });
  });
  app.get('/streamed', cached, (_req, res) => {
    runs.count++;
    res.type('text/plain');
    res.write('olá, ');
    res.end('cozinha');
  });
  app.post('/limits', cached, (_req, res) => {
    runs.count++;
    res.json({ count: runs.count });
  });
  return { app, runs };
}

describe('cacheResponse', () => {
  it('answers MISS first, then HIT with the same status, headers and body', async () => {
    const { app, runs } = appWith(caches.memory());
    const first = await request(app).get('/limits').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await request(app).get('/limits').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toStrictEqual(first.body);
    expect(second.headers['content-type']).toBe(first.headers['content-type']);
    expect(second.headers.etag).toBe('"v1"');
    expect(runs.count).toBe(1);
  });

  it('answers a conditional request with 304 from the cache', async () => {
    const { app } = appWith(caches.memory());
    await request(app).get('/limits').expect(200);
    const response = await request(app).get('/limits').set('If-None-Match', '"v1"');
    expect(response.status).toBe(304);
    expect(response.headers['x-cache']).toBe('HIT');
  });

  it('keeps a body written in several chunks', async () => {
    const { app, runs } = appWith(caches.memory());
    await request(app).get('/streamed').expect(200, 'olá, cozinha');
    const hit = await request(app).get('/streamed').expect(200, 'olá, cozinha');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(runs.count).toBe(1);
  });

  it('answers HEAD from a cached GET without a body', async () => {
    const { app } = appWith(caches.memory());
    await request(app).get('/limits').expect(200);
    const head = await request(app).head('/limits').expect(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(head.text ?? '').toBe('');
  });

  it('never caches responses that set cookies, are no-store or private, or are not 200', async () => {
    const { app, runs } = appWith(caches.memory());
    for (const path of ['/with-cookie', '/no-store', '/private', '/missing']) {
      await request(app).get(path);
      const again = await request(app).get(path);
      expect(again.headers['x-cache'], path).toBe('MISS');
    }
    expect(runs.count).toBe(8);
  });

  it('does not cache POST', async () => {
    const { app, runs } = appWith(caches.memory());
    await request(app).post('/limits').expect(200);
    const again = await request(app).post('/limits').expect(200);
    expect(again.headers['x-cache']).toBeUndefined();
    expect(runs.count).toBe(2);
  });

  it('keys by tenant when told to, so one restaurant never gets another one’s response', async () => {
    const cache = caches.memory();
    const app = express();
    app.get(
      '/limits',
      cacheResponse(cache, { key: (req) => `limits:${req.headers['x-restaurant']}` }),
      (req, res) => {
        res.json({ restaurant: req.headers['x-restaurant'] });
      },
    );
    await request(app).get('/limits').set('x-restaurant', 'a').expect(200);
    const b = await request(app).get('/limits').set('x-restaurant', 'b').expect(200);
    expect(b.headers['x-cache']).toBe('MISS');
    expect(b.body).toStrictEqual({ restaurant: 'b' });
    const a = await request(app).get('/limits').set('x-restaurant', 'a').expect(200);
    expect(a.headers['x-cache']).toBe('HIT');
    expect(a.body).toStrictEqual({ restaurant: 'a' });
  });

  it('keys a response by its URL as sent, mount path and query included, and by nothing else', async () => {
    const cache = caches.memory();
    const { app: inner, runs } = appWith(cache);
    const app = express().use('/api', inner);
    await request(app).get('/api/limits?a=1&b=2').expect(200);
    await waitFor(
      'the response to be stored under its key',
      async () => (await cache.get('response:/api/limits?a=1&b=2')) !== undefined,
    );
    // Neither the user, nor the language, nor the host varies the key...
    const other = await request(app)
      .get('/api/limits?a=1&b=2')
      .set('Cookie', 'sid=someone-else')
      .set('Accept-Language', 'en')
      .set('Host', 'other.example')
      .expect(200);
    expect(other.headers['x-cache']).toBe('HIT');
    // ...but the query as written does, order included.
    const reordered = await request(app).get('/api/limits?b=2&a=1').expect(200);
    expect(reordered.headers['x-cache']).toBe('MISS');
    expect(runs.count).toBe(2);
    await waitFor(
      'the second response to be stored',
      async () => (await cache.get('response:/api/limits?b=2&a=1')) !== undefined,
    );
    // What the README says to drop a route's responses with.
    expect(await cache.deletePattern('response:/api/limits*')).toBe(2);
    expect((await request(app).get('/api/limits?a=1&b=2')).headers['x-cache']).toBe('MISS');
  });

  it('does not cache a body larger than maxBodyBytes', async () => {
    const { app, runs } = appWith(caches.memory(), { maxBodyBytes: 10 });
    await request(app).get('/limits').expect(200);
    const again = await request(app).get('/limits').expect(200);
    expect(again.headers['x-cache']).toBe('MISS');
    expect(runs.count).toBe(2);
  });

  it('shares the cached response between instances through Redis', async () => {
    const prefix = caches.prefix();
    const cacheOne = await caches.redis({ prefix });
    const one = appWith(cacheOne);
    const two = appWith(await caches.redis({ prefix }));
    const miss = await request(one.app).get('/limits').expect(200);
    expect(miss.headers['x-cache']).toBe('MISS');
    // The cache is filled once the response has gone out; wait for it to land.
    await waitFor(
      'the response to be stored',
      async () => (await cacheOne.get('response:/limits')) !== undefined,
    );
    const hit = await request(two.app).get('/limits').expect(200);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toStrictEqual(miss.body);
    expect(two.runs.count).toBe(0);
  });

  it('keeps answering, uncached, while Redis is down', async () => {
    const { startRedis } = await import('@bancada/testkit');
    const server = await startRedis();
    try {
      const cache = await caches.redis({
        redis: server.url,
        prefix: caches.prefix(),
        timeoutMs: 100,
      });
      const { app, runs } = appWith(cache);
      await request(app).get('/limits').expect(200);
      await server.kill();
      for (let i = 0; i < 3; i++) {
        const response = await request(app).get('/limits').expect(200);
        expect(response.body.tables).toBe(12);
      }
      expect(runs.count).toBeGreaterThanOrEqual(1);
      expect(cache.getStats().degraded).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('validates its options', () => {
    const cache = caches.memory();
    expect(() => cacheResponse(undefined as never)).toThrow(/needs the cache/);
    expect(() => cacheResponse(cache, { ttlSeconds: 0 })).toThrow(/positive/);
    expect(() => cacheResponse(cache, { maxBodyBytes: -1 })).toThrow(/maxBodyBytes/);
  });
});
