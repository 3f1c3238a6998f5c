import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** An in-process Postgres (PGlite) that `pg` reaches over a loopback socket. */
export interface EmbeddedPostgres {
  connectionString: string;
  /** The folder it keeps its files in, or `memory://`. */
  dataDir: string;
  close(): Promise<void>;
}

// Connection strings of the embedded servers this process started, so that a session given
// one (an app sharing its embedded database) still says it is single-instance.
const running = new Map<string, string>();

/** The data folder of an embedded Postgres started here, if `url` is one. */
export function embeddedDataDir(url: string | undefined): string | undefined {
  return url === undefined ? undefined : running.get(url);
}

/**
 * Starts PGlite in `dataDir` (or in memory for `memory://`) and serves it on a free loopback
 * port, so the very same `pg` + connect-pg-simple path runs with no Postgres server.
 * PGlite is single-connection: queries from the pool are queued by the socket server.
 * It does not deliver `LISTEN` notifications to socket clients.
 *
 * Exported for apps that keep their own tables next to the sessions: start one, pass its
 * `connectionString` to `createSession()` and to your own pool, and `close()` it last.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 100 });
  await server.start();
  const connectionString = `postgres://postgres@${server.getServerConn()}/postgres`;
  running.set(connectionString, dataDir);
  return {
    connectionString,
    dataDir,
    async close() {
      running.delete(connectionString);
      await server.stop();
      await db.close();
    },
  };
}
