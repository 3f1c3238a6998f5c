import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy in front of Redis or Postgres that a test can cut, freeze and restore. */
export interface FaultProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `original` (a redis:// or postgres:// URL) with its host and port replaced by the proxy's. */
  url(original: string): string;
  /** Closes every open connection (both sides) and refuses new ones until `restore()`. */
  cut(): void;
  /**
   * Keeps connections open but stops moving bytes, as a hung server or a black-holed network
   * would; new connections are accepted and held too. Bytes are not lost: TCP holds them,
   * and they flow again after `restore()`.
   */
  freeze(): void;
  /** Back to forwarding: frozen connections resume; new connections go through. */
  restore(): void;
  /** Client connections open right now. */
  readonly connections: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Mode = 'open' | 'cut' | 'frozen';

/** Starts a proxy on a free port of 127.0.0.1 to `target` (a URL, `host:port` or an object). */
export async function faultProxy(
  target: { host: string; port: number } | string,
): Promise<FaultProxy> {
  const { host, port } = parseTarget(target);
  let mode: Mode = 'open';
  const pairs = new Set<[Socket, Socket]>();

  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect({ host, port });
    upstream.on('error', () => {});
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => {
        if (!to.destroyed) to.write(chunk);
      });
      from.on('close', () => {
        pairs.delete(pair);
        to.destroy();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    if (mode === 'frozen') {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy got no port');

  const proxy: FaultProxy = {
    host: '127.0.0.1',
    port: address.port,
    url(original) {
      const url = new URL(original);
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString();
    },
    cut() {
      mode = 'cut';
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    freeze() {
      mode = 'frozen';
      for (const [client, upstream] of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    restore() {
      mode = 'open';
      for (const [client, upstream] of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      proxy.cut();
      await new Promise((resolve) => server.close(resolve));
    },
    [Symbol.asyncDispose]: () => proxy.close(),
  };
  return proxy;
}

function parseTarget(target: { host: string; port: number } | string): {
  host: string;
  port: number;
} {
  if (typeof target !== 'string') return target;
  if (target.includes('://')) {
    const url = new URL(target);
    const defaultPort = url.protocol.startsWith('redis') ? 6379 : 5432;
    return { host: url.hostname || '127.0.0.1', port: Number(url.port || defaultPort) };
  }
  const [host, port] = target.split(':');
  if (!host || !port)
    throw new TypeError(`faultProxy target must be a URL or host:port, got "${target}"`);
  return { host, port: Number(port) };
}
