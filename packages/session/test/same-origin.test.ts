import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type SameOriginOptions, SessionOptionError, sameOriginOnly } from '../src/index.js';

/** An app whose every route changes state; `trustProxy` as Express's `trust proxy`. */
function appWith(options?: SameOriginOptions, trustProxy: boolean | number = false) {
  const app = express();
  app.set('trust proxy', trustProxy);
  app.use(sameOriginOnly(options));
  app.all('/change', (_req, res) => {
    res.sendStatus(204);
  });
  return app;
}

describe('sameOriginOnly', () => {
  it('refuses a POST from a page of another site with a 403 and a stable code', async () => {
    const refused = await request(appWith())
      .post('/change')
      .set('Host', 'pos.example.com')
      .set('Origin', 'https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      error: 'cross-origin-refused',
      message: expect.stringMatching(/another site/),
    });
  });

  it('accepts the request’s own origin, as its Host and protocol say', async () => {
    const app = appWith();
    await request(app)
      .post('/change')
      .set('Host', 'pos.example.com:8080')
      .set('Origin', 'http://pos.example.com:8080')
      .expect(204);
    // Another port, another scheme: another origin.
    for (const origin of ['http://pos.example.com:9090', 'https://pos.example.com:8080']) {
      await request(app)
        .post('/change')
        .set('Host', 'pos.example.com:8080')
        .set('Origin', origin)
        .expect(403);
    }
  });

  it('sees the origin behind a trusted proxy through X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const behind = (trust: boolean | number) =>
      request(appWith({}, trust))
        .post('/change')
        .set('Host', 'pdv-1:3000')
        .set('X-Forwarded-Proto', 'https')
        .set('X-Forwarded-Host', 'pos.example.com')
        .set('Origin', 'https://pos.example.com');
    await behind(1).expect(204);
    await behind(false).expect(403); // an untrusted X-Forwarded-Host is not believed
  });

  it('trusts what the browser says in Sec-Fetch-Site, and refuses a cross-site one without Origin', async () => {
    const app = appWith();
    for (const site of ['same-origin', 'none']) {
      await request(app)
        .post('/change')
        .set('Sec-Fetch-Site', site)
        .set('Origin', 'https://proxy-rewrote-the-host.example')
        .expect(204);
    }
    for (const site of ['cross-site', 'same-site']) {
      await request(app).post('/change').set('Sec-Fetch-Site', site).expect(403);
    }
  });

  it('lets clients that are not browsers through (no Origin, no Sec-Fetch-Site), and safe methods always', async () => {
    const app = appWith();
    await request(app).post('/change').expect(204);
    await request(app).delete('/change').expect(204);
    for (const method of ['get', 'head', 'options'] as const) {
      await request(app)[method]('/change').set('Origin', 'https://evil.example').expect(204);
    }
  });

  it('refuses an opaque origin (Origin: null) and one it cannot read', async () => {
    const app = appWith();
    for (const origin of ['null', 'not a url']) {
      await request(app).post('/change').set('Origin', origin).expect(403);
    }
  });

  it('takes a list of origins, or a function, instead of the request’s own', async () => {
    const listed = appWith({
      allowedOrigins: ['https://pos.example.com/', 'https://kds.example.com'],
    });
    for (const origin of ['https://pos.example.com', 'https://KDS.example.com:443']) {
      await request(listed).put('/change').set('Origin', origin).expect(204);
    }
    await request(listed)
      .put('/change')
      .set('Host', 'app.example.com')
      .set('Origin', 'http://app.example.com')
      .expect(403);
    const decided = appWith({ allowedOrigins: (origin) => origin.endsWith('.trusted.example') });
    await request(decided).patch('/change').set('Origin', 'https://a.trusted.example').expect(204);
    await request(decided).patch('/change').set('Origin', 'https://evil.example').expect(403);
  });

  it('refuses options that cannot work with a clear TypeError', () => {
    for (const allowedOrigins of [['https://pos.example.com/path'], ['*'], [42], 'https://x.com']) {
      const make = () => sameOriginOnly({ allowedOrigins } as never);
      expect(make).toThrow(SessionOptionError);
      expect(make).toThrow(/allowedOrigins/);
    }
  });
});
