import pg from 'pg';

/**
 * The schema, in order. A migration never changes once released; add a new one instead.
 * Applied at start by whichever instance takes the advisory lock first.
 */
export const MIGRATIONS: Array<{ id: string; sql: string }> = [
  {
    id: '001_restaurants_users_menu',
    sql: `
      CREATE TABLE restaurants (
        id text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,40}$'),
        name text NOT NULL,
        plan text NOT NULL DEFAULT 'starter'
      );
      CREATE TABLE users (
        id serial PRIMARY KEY,
        email text NOT NULL UNIQUE,
        name text NOT NULL,
        password_hash text NOT NULL,
        restaurant_id text NOT NULL REFERENCES restaurants(id)
      );
      CREATE TABLE menu_items (
        id serial PRIMARY KEY,
        restaurant_id text NOT NULL REFERENCES restaurants(id),
        name text NOT NULL,
        category text NOT NULL,
        price_cents integer NOT NULL CHECK (price_cents >= 0),
        UNIQUE (restaurant_id, name)
      );`,
  },
  {
    id: '002_orders',
    sql: `
      CREATE TABLE orders (
        id bigserial PRIMARY KEY,
        restaurant_id text NOT NULL REFERENCES restaurants(id),
        table_label text NOT NULL,
        status text NOT NULL DEFAULT 'new'
          CHECK (status IN ('new', 'preparing', 'ready', 'delivered')),
        items jsonb NOT NULL,
        total_cents integer NOT NULL,
        note text,
        created_by integer REFERENCES users(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX orders_open_by_restaurant ON orders (restaurant_id, id)
        WHERE status <> 'delivered';`,
  },
  {
    // The original app's trigger: every change to an order notifies 'ticket_updates', for the
    // NOTIFY bridge. Changes made by this app set pdv.source = 'app' in their transaction and
    // are published by the app itself (see realtime.ts), so they are not notified twice.
    id: '003_ticket_updates_trigger',
    sql: `
      CREATE FUNCTION notify_ticket_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF coalesce(current_setting('pdv.source', true), '') <> 'app' THEN
          -- The order as the API returns it (at most 50 items and a 200-character note keep
          -- it far below NOTIFY's 8000-byte limit).
          PERFORM pg_notify('ticket_updates', json_build_object(
            'op', TG_OP, 'order', json_build_object(
              'id', NEW.id, 'restaurantId', NEW.restaurant_id, 'table', NEW.table_label,
              'status', NEW.status, 'items', NEW.items, 'totalCents', NEW.total_cents,
              'note', NEW.note, 'createdAt', NEW.created_at, 'updatedAt', NEW.updated_at))::text);
        END IF;
        RETURN NEW;
      END
      $$;
      CREATE TRIGGER orders_ticket_updates AFTER INSERT OR UPDATE ON orders
        FOR EACH ROW EXECUTE FUNCTION notify_ticket_update();`,
  },
  {
    // The key a cashier's retry carries (or one the app makes up), so that an order whose
    // COMMIT went unanswered can be looked up, and a retry returns it instead of doubling it.
    id: '004_order_idempotency_key',
    sql: `
      ALTER TABLE orders ADD COLUMN idempotency_key text;
      CREATE UNIQUE INDEX orders_idempotency_key ON orders (restaurant_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;`,
  },
];

// Any fixed number: instances starting together wait for each other instead of racing.
const MIGRATION_LOCK = 720_401;

/**
 * Applies what is missing, each migration in its own transaction, on a connection of its
 * own: the request pool's timeouts are far too short for a migration, or for waiting on
 * another instance's. Returns the ids applied.
 */
export async function migrate(connectionString: string): Promise<string[]> {
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: 10_000,
    // Bounded all the same: a start that hangs on a stuck database never turns healthy.
    query_timeout: 120_000,
    statement_timeout: 120_000,
  });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = await client.query<{ id: string }>('SELECT id FROM schema_migrations');
    const have = new Set(done.rows.map((row) => row.id));
    for (const migration of MIGRATIONS) {
      if (have.has(migration.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.id} failed: ${(error as Error).message}`);
      }
      applied.push(migration.id);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end().catch(() => {});
  }
  return applied;
}
