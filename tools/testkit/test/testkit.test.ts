import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkMetricsText,
  cleanupPrefix,
  createDatabase,
  familiesWithoutSamples,
  faultProxy,
  keyPrefix,
  postgresUrl,
  redisUrl,
  startPrometheus,
  startRedis,
  startTlsRedis,
} from '../src/index.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, ...options });
  redis.on('error', () => {});
  cleanups.push(() => redis.disconnect());
  return redis;
}

describe('redisUrl', () => {
  it('gives the URL of a Redis that answers', async () => {
    expect(await client(await redisUrl()).ping()).toBe('PONG');
  });

  it('fails with a message naming the URL and how to fix it when nothing answers', async () => {
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = 'redis://127.0.0.1:1';
    try {
      await expect(redisUrl()).rejects.toThrow(
        /not reachable at redis:\/\/127\.0\.0\.1:1.*REDIS_URL/,
      );
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
  });
});

describe('keyPrefix and cleanupPrefix', () => {
  it('gives distinct prefixes and removes only its own keys', async () => {
    const url = await redisUrl();
    const mine = keyPrefix('testkit');
    const other = keyPrefix('testkit');
    expect(mine).not.toBe(other);
    const redis = client(url);
    await redis.set(`${mine}a`, '1');
    await redis.set(`${mine}b`, '1');
    await redis.set(`${other}a`, '1');
    expect(await cleanupPrefix(url, mine)).toBe(2);
    expect(await redis.exists(`${mine}a`, `${mine}b`)).toBe(0);
    expect(await redis.get(`${other}a`)).toBe('1');
    await cleanupPrefix(url, other);
  });
});

describe('startRedis', () => {
  it('runs a private server that can be killed, restarted on the same port and stopped', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await client(server.url).ping()).toBe('PONG');

    await server.kill();
    expect(server.isRunning).toBe(false);
    await expect(client(server.url).ping()).rejects.toThrow();

    await server.restart();
    expect(server.isRunning).toBe(true);
    expect(await client(server.url).ping()).toBe('PONG');

    await server.stop();
    await server.stop();
    await expect(client(server.url).ping()).rejects.toThrow();
    await expect(server.restart()).rejects.toThrow(/stopped for good/);
  });
});

/** The first error a client connecting to `url` reports. */
function firstError(url: string, options: RedisOptions = {}): Promise<string> {
  const redis = new Redis(url, { ...options, lazyConnect: true, retryStrategy: () => null });
  cleanups.push(() => redis.disconnect());
  const error = new Promise<string>((resolve) =>
    redis.once('error', (e: Error) => resolve(e.message)),
  );
  redis.connect().catch(() => {});
  return error;
}

describe('startTlsRedis', () => {
  it('speaks TLS only, with a certificate of its own authority and a password', async () => {
    const server = await startTlsRedis();
    cleanups.push(() => server.stop());
    expect(server.url).toBe(
      `rediss://${server.username}:${server.password}@127.0.0.1:${server.port}`,
    );
    expect(await client(server.url, { tls: { ca: server.ca } }).ping()).toBe('PONG');
    // The machine's own authorities do not know it.
    await expect(client(server.url).ping()).rejects.toThrow();
    // What ioredis reports as the connection's error: the cause, in the words of TLS and Redis.
    expect(await firstError(server.url)).toMatch(/self[- ]signed certificate/);
    const wrong = server.url.replace(server.password, 'wrong-password');
    expect(await firstError(wrong, { tls: { ca: server.ca } })).toMatch(/WRONGPASS/);
    const plain = new Redis(server.port, '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => null,
      connectTimeout: 1000,
    });
    plain.on('error', () => {});
    cleanups.push(() => plain.disconnect());
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();

    await server.kill();
    await server.restart();
    expect(await client(server.url, { tls: { ca: server.ca } }).ping()).toBe('PONG');
  });
});

describe('createDatabase', () => {
  it('creates a database of its own and drops it', async () => {
    const db = await createDatabase('testkit');
    cleanups.push(() => db.drop());
    const pool = new pg.Pool({ connectionString: db.url });
    pool.on('error', () => {}); // its backends are terminated by drop()
    await pool.query('CREATE TABLE t (id int)');
    await pool.query('INSERT INTO t VALUES (1)');
    expect((await pool.query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(1);
    await db.drop(); // with the pool still connected: its backends are ended first
    await db.drop();
    await pool.end().catch(() => {});
    const admin = new pg.Client({ connectionString: postgresUrl() });
    await admin.connect();
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(found.rowCount).toBe(0);
  });
});

describe('faultProxy', () => {
  it('forwards, cuts, freezes and restores a connection to Redis', async () => {
    const url = await redisUrl();
    const proxy = await faultProxy(url);
    cleanups.push(() => proxy.close());
    const through = proxy.url(url);
    expect(await client(through).ping()).toBe('PONG');

    const live = client(through, { retryStrategy: () => 50, commandTimeout: 200 });
    expect(await live.ping()).toBe('PONG');
    proxy.cut();
    await expect(live.ping()).rejects.toThrow();
    await expect(client(through).ping()).rejects.toThrow();

    proxy.restore();
    expect(await client(through).ping()).toBe('PONG');

    const frozen = client(through, { commandTimeout: 200 });
    expect(await frozen.ping()).toBe('PONG');
    proxy.freeze();
    await expect(frozen.ping()).rejects.toThrow(/timed out/);
    proxy.restore();
    // The bytes held during the freeze arrive late; the connection works again.
    await expect.poll(() => frozen.ping().catch(() => 'not yet'), { timeout: 2000 }).toBe('PONG');
  });

  it('parses host:port targets and refuses nonsense', async () => {
    const proxy = await faultProxy('127.0.0.1:6379');
    cleanups.push(() => proxy.close());
    expect(proxy.connections).toBe(0);
    await expect(faultProxy('nonsense')).rejects.toThrow(/host:port/);
  });
});

describe('checkMetricsText', () => {
  it("passes text that Prometheus's linter accepts", async () => {
    await checkMetricsText(
      '# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total 3\n',
    );
  });

  it("fails with promtool's own words for a name it rejects", async () => {
    await expect(
      checkMetricsText(
        '# HELP app_open_total Open.\n# TYPE app_open_total gauge\napp_open_total 1\n',
      ),
    ).rejects.toThrow(/app_open_total non-counter metrics should not have "_total" suffix/);
    await expect(
      checkMetricsText(
        '# HELP app_requests Requests.\n# TYPE app_requests counter\napp_requests 3\n',
      ),
    ).rejects.toThrow(/app_requests counter metrics should have "_total" suffix/);
  });

  it('fails for text that is not Prometheus text at all', async () => {
    await expect(checkMetricsText('this is { not metrics\n')).rejects.toThrow(/promtool/);
  });
});

describe('familiesWithoutSamples', () => {
  it('names the families that have no sample', () => {
    const text = [
      '# TYPE a_total counter',
      'a_total 1',
      '# TYPE b_seconds histogram',
      'b_seconds_bucket{le="1"} 0',
      'b_seconds_count 0',
      '# TYPE c gauge',
      '# TYPE d_total counter',
      '',
    ].join('\n');
    expect(familiesWithoutSamples(text)).toEqual(['c', 'd_total']);
  });
});

describe('startPrometheus', () => {
  it('scrapes a target and answers queries through its HTTP API, and refuses a bad query', async () => {
    let served = 0;
    const server = createServer((_req, res) => {
      served++;
      res.end(
        `# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total ${served}\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    const prometheus = await startPrometheus({
      jobs: { demo: [`127.0.0.1:${port}`] },
      scrapeIntervalMs: 200,
    });
    cleanups.push(() => prometheus.stop());
    const [sample] = await prometheus.query('demo_requests_total');
    expect(sample?.metric).toMatchObject({ job: 'demo', instance: `127.0.0.1:${port}` });
    expect(Number(sample?.value[1])).toBeGreaterThan(0);
    await expect(prometheus.query('rate(demo_requests_total')).rejects.toThrow(
      /Prometheus refused/,
    );
    expect(await prometheus.query('nothing_like_this')).toEqual([]);
    await prometheus.stop();
    await prometheus.stop();
    await expect(prometheus.query('up')).rejects.toThrow();
  });
});
