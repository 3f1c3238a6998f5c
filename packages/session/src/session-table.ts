import type { Store } from 'express-session';
import type { Pool } from 'pg';
import { USER_KEY } from './user-sessions.js';

/**
 * Creates the session table when missing, with index and constraint names derived from the
 * table's name. (connect-pg-simple's own createTableIfMissing names the primary key
 * `session_pkey` whatever the table is called, so a second session table in one schema
 * fails to create.) Several instances starting at once are fine: each step is IF NOT EXISTS,
 * and a lost race on the catalog counts as success.
 */
async function createTable(pool: Pool, table: string): Promise<void> {
  const quoted = `"${table}"`;
  try {
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${quoted} (
         "sid" varchar NOT NULL COLLATE "default",
         "sess" json NOT NULL,
         "expire" timestamp(6) NOT NULL,
         CONSTRAINT "${table}_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE
       )`,
    );
    await pool.query(`CREATE INDEX IF NOT EXISTS "IDX_${table}_expire" ON ${quoted} ("expire")`);
    // A user's sessions, for maxSessionsPerUser (also added to a table made before it).
    await pool.query(
      `CREATE INDEX IF NOT EXISTS "IDX_${table}_user" ON ${quoted} ((sess->>'${USER_KEY}'))`,
    );
  } catch (error) {
    // 23505 / 42P07: another instance created it between our check and our create.
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw error;
  }
}

/**
 * Makes every store call wait for the table to exist. Done on first use, not at start, and
 * tried again after a failure, so a database that is down when the app starts only costs
 * those requests a 503 until it is back.
 */
export function ensureTableBeforeUse(store: Store, pool: Pool, table: string): void {
  let created: Promise<void> | undefined;
  const ready = () => {
    created ??= createTable(pool, table).catch((error) => {
      created = undefined;
      throw error;
    });
    return created;
  };
  for (const op of ['get', 'set', 'touch', 'destroy'] as const) {
    const original = store[op]?.bind(store) as ((...args: unknown[]) => void) | undefined;
    if (original === undefined) continue;
    (store as unknown as Record<string, unknown>)[op] = (...args: unknown[]) => {
      const callback = args.at(-1) as ((error?: unknown) => void) | undefined;
      ready().then(
        () => original(...args),
        (error) => callback?.(error),
      );
    };
  }
}
