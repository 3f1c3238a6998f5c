import { connect, createServer, type Socket } from 'node:net';

/** How the next COMMIT going through the proxy is stalled. */
export type CommitStall =
  /** It never reaches Postgres (nor does anything after it on that connection). */
  | 'withhold'
  /** Postgres gets it and commits; its answer never comes back on that connection. */
  | 'lose-answer'
  /** Postgres gets it; then no byte moves on any connection, new ones included, until `restore()`. */
  | 'freeze';

export interface CommitStallProxy {
  /** `original` with its host and port replaced by the proxy's. */
  url(original: string): string;
  /** Arms the proxy; resolves once a COMMIT has been stalled. */
  stallNextCommit(how: CommitStall): Promise<void>;
  /** Ends a freeze: held bytes flow again. */
  restore(): void;
  close(): Promise<void>;
}

// A simple-protocol Query message for exactly "COMMIT": 'Q', int32 length 11, the text, NUL.
const COMMIT = Buffer.from('Q\0\0\0\x0bCOMMIT\0', 'latin1');

/**
 * A TCP proxy in front of Postgres that stalls one COMMIT: what a connection lost, or a
 * server gone silent, right after the COMMIT was sent looks like to the app.
 */
export async function commitStallProxy(target: string): Promise<CommitStallProxy> {
  const { hostname, port } = new URL(target);
  let armed: { how: CommitStall; stalled: () => void } | undefined;
  let frozen = false;
  const sockets = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port || 5432) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      if (frozen) socket.pause();
    }
    let withholding = false;
    let answerLost = false;
    client.on('data', (chunk: Buffer) => {
      if (withholding) return;
      const at = armed ? chunk.indexOf(COMMIT) : -1;
      if (at === -1 || armed === undefined) {
        upstream.write(chunk);
        return;
      }
      const { how, stalled } = armed;
      armed = undefined;
      if (how === 'withhold') {
        upstream.write(chunk.subarray(0, at));
        withholding = true;
      } else {
        upstream.write(chunk);
        if (how === 'lose-answer') answerLost = true;
        else {
          frozen = true;
          for (const socket of sockets) socket.pause();
        }
      }
      stalled();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!answerLost) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy got no port');

  return {
    url(original) {
      const url = new URL(original);
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString();
    },
    stallNextCommit(how) {
      return new Promise((resolve) => {
        armed = { how, stalled: resolve };
      });
    },
    restore() {
      frozen = false;
      for (const socket of sockets) socket.resume();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
