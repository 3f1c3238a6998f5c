import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** An in-process Postgres (PGlite) that `pg` reaches over a loopback socket. */
export interface EmbeddedPostgres {
  connectionString: string;
  close(): Promise<void>;
}

/**
 * Starts PGlite in `dataDir` (or in memory for `memory://`) and serves it on a free loopback
 * port, so the very same `pg` + connect-pg-simple path runs with no Postgres server.
 * PGlite is single-connection: queries from the pool are queued by the socket server.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 100 });
  await server.start();
  return {
    connectionString: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
