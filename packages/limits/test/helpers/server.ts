import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type ConnectionLimiter, upgradeWithLimit } from '../../src/index.js';

export interface LimitedServer {
  url: string;
  wsUrl: string;
  server: Server;
  wss: WebSocketServer;
  /** Stops accepting and closes every open connection, as a shutdown would. */
  close(): Promise<void>;
}

const servers: LimitedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** An HTTP server with a WebSocket endpoint (/ws) and an SSE stream (/events) behind `limiter`. */
export async function limitedServer(limiter: ConnectionLimiter): Promise<LimitedServer> {
  const app = express();
  app.get('/events', limiter.middleware(), (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
    res.write(': connected\n\n');
  });
  const server = createServer(app);
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    void upgradeWithLimit(limiter, wss, req, socket, head).then((ws) => {
      ws?.send('hello');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: LimitedServer = {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    server,
    wss,
    async close() {
      for (const client of wss.clients) client.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  servers.push(handle);
  return handle;
}

/** Opens a WebSocket; resolves it once open, or the HTTP status it was refused with. */
export function openSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket } | { status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'] as string,
          body,
        }),
      );
    });
    ws.once('error', reject);
  });
}

export { waitFor } from '@bancada/testkit';

export { fakeRequest } from './fake-request.js';
