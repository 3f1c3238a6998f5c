import http from 'node:http';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import {
  type ConnectionLimiter,
  type ConnectionLimitOptions,
  connectionLimit,
  ipKey,
} from '../src/index.js';
import { fakeRequest, limitedServer, openSocket, waitFor } from './helpers/server.js';

const limiters: ConnectionLimiter[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(limiters.splice(0).map((l) => l.close()));
});

function limiter(options: ConnectionLimitOptions = {}): ConnectionLimiter {
  const created = connectionLimit({ redis: false, logger: false, ...options });
  limiters.push(created);
  return created;
}

async function open(url: string, headers?: Record<string, string>) {
  const result = await openSocket(url, headers);
  if ('ws' in result) sockets.push(result.ws);
  return result;
}

/** Opens an SSE stream; resolves its status, headers and (for a refusal) body. */
function openStream(
  url: string,
): Promise<{ status: number; retryAfter?: string; body: string; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
        if (res.statusCode === 200) resolve({ status: 200, body, req });
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body, req }),
      );
    });
    req.on('error', reject);
  });
}

describe('connection limit on WebSocket upgrades', () => {
  it('refuses the 11th connection from one address with a 429 the client can read', async () => {
    const gate = limiter();
    const server = await limitedServer(gate);
    for (let i = 0; i < 10; i++) expect(await open(server.wsUrl)).toHaveProperty('ws');
    const refused = await open(server.wsUrl);
    expect(refused).toMatchObject({ status: 429, retryAfter: '10' });
    expect(JSON.parse((refused as { body: string }).body)).toMatchObject({
      error: 'per-ip',
      retryAfter: 10,
    });
    expect(gate.stats().active).toBe(10);
  });

  it('refuses connections past maxTotal with a 503', async () => {
    const gate = limiter({ maxPerIp: 5, maxTotal: 5, retryAfterSeconds: 3 });
    const server = await limitedServer(gate);
    for (let i = 0; i < 5; i++) await open(server.wsUrl);
    // The total is checked first: with both limits at 5 the 6th is refused for the total.
    expect(await open(server.wsUrl)).toMatchObject({ status: 503, retryAfter: '3' });
  });

  it('frees the slot when a connection closes', async () => {
    const gate = limiter({ maxPerIp: 1 });
    const server = await limitedServer(gate);
    const first = await open(server.wsUrl);
    expect(await open(server.wsUrl)).toMatchObject({ status: 429 });
    (first as { ws: WebSocket }).ws.close();
    await waitFor('the slot to be free', () => gate.stats().active === 0);
    expect(await open(server.wsUrl)).toHaveProperty('ws');
  });

  it('ignores a forged X-Forwarded-For when no proxy is trusted', async () => {
    const gate = limiter();
    const server = await limitedServer(gate);
    const results = [];
    for (let i = 0; i < 50; i++) {
      results.push(await open(server.wsUrl, { 'X-Forwarded-For': `203.0.113.${i}` }));
    }
    expect(results.filter((r) => 'ws' in r)).toHaveLength(10);
    expect(results[10]).toMatchObject({ status: 429 });
    expect(gate.stats().clients).toBe(1);
  });

  it('tells clients behind a trusted balancer apart', async () => {
    const gate = limiter({ trustProxy: 'loopback' });
    const server = await limitedServer(gate);
    for (let i = 0; i < 15; i++) {
      expect(await open(server.wsUrl, { 'X-Forwarded-For': `203.0.113.${i}` })).toHaveProperty(
        'ws',
      );
    }
    for (let i = 0; i < 9; i++) await open(server.wsUrl, { 'X-Forwarded-For': '203.0.113.1' });
    expect(await open(server.wsUrl, { 'X-Forwarded-For': '203.0.113.1' })).toMatchObject({
      status: 429,
    });
    expect(gate.stats().clients).toBe(15);
  });

  it('releases every slot however connections end: 10,000 opened and dropped in every way', async () => {
    const gate = limiter({ maxPerIp: 10_000, maxTotal: 10_000 });
    const server = await limitedServer(gate);
    const ends = [
      'client close',
      'client error',
      'server terminate',
      'server close',
      'abort',
    ] as const;
    let opened = 0;
    for (let batch = 0; batch < 100; batch++) {
      const way = ends[batch % ends.length]!;
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          opened++;
          if (way === 'abort') return abortBeforeUpgrade(server.url);
          const result = await openSocket(server.wsUrl);
          if (!('ws' in result)) throw new Error(`refused: ${result.status}`);
          const closed = new Promise((resolve) => result.ws.once('close', resolve));
          if (way === 'client close') result.ws.close();
          else if (way === 'client error')
            (result.ws as unknown as { _socket: { destroy(e: Error): void } })._socket.destroy(
              new Error('boom'),
            );
          else {
            const serverSide = [...server.wss.clients].at(-1)!;
            if (way === 'server terminate') serverSide.terminate();
            else serverSide.close(1012, 'restarting');
          }
          await closed;
        }),
      );
      await waitFor(`batch ${batch} (${way}) to be released`, () => gate.stats().active === 0);
    }
    expect(opened).toBe(10_000);
    expect(gate.stats()).toMatchObject({ active: 0, clients: 0 });
  }, 120_000);
});

/** Sends the start of an upgrade request and hangs up before the server can answer. */
function abortBeforeUpgrade(url: string): Promise<void> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      socket.destroy();
      resolve();
    });
    socket.on('error', () => resolve());
  });
}

describe('upgradeWithLimit', () => {
  it('answers 503 instead of failing when the gate itself throws', async () => {
    const { createServer } = await import('node:http');
    const { WebSocketServer } = await import('ws');
    const { upgradeWithLimit } = await import('../src/index.js');
    const broken = {
      acquire: async () => Promise.reject(new Error('gate exploded')),
      close: async () => {},
    };
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer();
    const outcomes: unknown[] = [];
    server.on('upgrade', (req, socket, head) => {
      upgradeWithLimit(broken, wss, req, socket, head).then((ws) => outcomes.push(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    expect(await openSocket(`ws://127.0.0.1:${port}/`)).toMatchObject({ status: 503 });
    expect(outcomes).toEqual([undefined]);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('connection limit on SSE streams', () => {
  it('refuses the 11th stream with a JSON 429 and frees a slot when a stream ends', async () => {
    const gate = limiter();
    const server = await limitedServer(gate);
    const streams = [];
    for (let i = 0; i < 10; i++) {
      const stream = await openStream(`${server.url}/events`);
      expect(stream.status).toBe(200);
      streams.push(stream);
    }
    const refused = await openStream(`${server.url}/events`);
    expect(refused).toMatchObject({ status: 429, retryAfter: '10' });
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'per-ip' });
    streams[0]!.req.destroy();
    await waitFor('the stream slot to be free', () => gate.stats().active === 9);
    const again = await openStream(`${server.url}/events`);
    expect(again.status).toBe(200);
    for (const stream of [...streams, again]) stream.req.destroy();
    await waitFor('every stream slot to be free', () => gate.stats().active === 0);
  });
});

describe('leases', () => {
  it('count once however often they are released', async () => {
    const gate = limiter({ maxPerIp: 2 });
    const req = fakeRequest('198.51.100.7');
    const lease = await gate.acquire(req);
    expect('release' in lease).toBe(true);
    await gate.acquire(req);
    if ('release' in lease) {
      lease.release();
      lease.release();
      lease.release();
    }
    expect(gate.stats().active).toBe(1);
  });

  it('refuse everything once the limiter is closed', async () => {
    const gate = limiter();
    await gate.close();
    expect(await gate.acquire(fakeRequest('198.51.100.8'))).toMatchObject({
      status: 503,
      reason: 'unavailable',
    });
  });
});

describe('client keys', () => {
  it('groups IPv6 clients by /64 and unwraps IPv4-mapped addresses', () => {
    expect(ipKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64)).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(ipKey('2001:db8:1:2::1', 64)).toBe(ipKey('2001:db8:1:2:ffff::9', 64));
    expect(ipKey('2001:db8:1:3::1', 64)).not.toBe(ipKey('2001:db8:1:2::1', 64));
    expect(ipKey('2001:db8::1', false)).toBe('2001:db8::1');
    expect(ipKey('::ffff:192.0.2.1', 64)).toBe('192.0.2.1');
    expect(ipKey('192.0.2.1', 64)).toBe('192.0.2.1');
  });

  it('counts two addresses of one /64 as one client', async () => {
    const gate = limiter({ maxPerIp: 1 });
    expect(await gate.acquire(fakeRequest('2001:db8:1:2::1'))).toHaveProperty('release');
    expect(await gate.acquire(fakeRequest('2001:db8:1:2::2'))).toMatchObject({ status: 429 });
    expect(await gate.acquire(fakeRequest('2001:db8:1:3::1'))).toHaveProperty('release');
  });
});

describe('connectionLimit options and metrics', () => {
  it.each([
    [{ maxPerIp: 0 }, /maxPerIp/],
    [{ maxPerIp: 11, maxTotal: 10 }, /cannot exceed/],
    [{ leaseTtlMs: 10 }, /leaseTtlMs/],
    [{ heartbeatTtlMs: 299 }, /heartbeatTtlMs/],
    [{ heartbeatTtlMs: 1000.5 }, /heartbeatTtlMs/],
    [{ onRedisError: 'maybe' }, /onRedisError/],
    [{ ipv6Subnet: 200 }, /ipv6Subnet/],
    [{ redis: 'localhost' }, /redis:\/\//],
  ])('rejects %o with a clear TypeError', (options, message) => {
    expect(() =>
      connectionLimit({ logger: false, ...(options as ConnectionLimitOptions) }),
    ).toThrow(message);
    expect(() =>
      connectionLimit({ logger: false, ...(options as ConnectionLimitOptions) }),
    ).toThrow(TypeError);
  });

  it('exposes rejections and active connections as metrics', async () => {
    const registry = new Registry();
    const gate = limiter({ maxPerIp: 1, registry });
    await gate.acquire(fakeRequest('198.51.100.9'));
    await gate.acquire(fakeRequest('198.51.100.9'));
    const text = await registry.metrics();
    expect(text).toContain(
      'bancada_limits_rejections_total{limiter="connections",reason="per-ip"} 1',
    );
    expect(text).toContain('bancada_limits_active_connections{limiter="connections"} 1');
  });
});
