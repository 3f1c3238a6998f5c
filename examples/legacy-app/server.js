// A small order dashboard for food vendors, written the way an app that runs as one process
// is: sessions in memory, a Map as cache, its own WebSocket broadcast and a setInterval job.
// Customers order from a vendor's menu; the vendor's dashboard shows each order as it
// comes. docs/retrofit.md (at the repository root) walks it to many instances.
import { createServer } from 'node:http';
import express from 'express';
import session from 'express-session';
import pg from 'pg';
import { WebSocketServer } from 'ws';

const PORT = Number(process.env.PORT ?? 3100);
const INSTANCE = process.env.INSTANCE_ID ?? `legacy-${process.pid}`;
const ARCHIVE_EVERY_MS = Number(process.env.ARCHIVE_EVERY_MS ?? 60_000);

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
await pool.query(`
  CREATE TABLE IF NOT EXISTS vendors (id int PRIMARY KEY, name text NOT NULL, password text NOT NULL);
  CREATE TABLE IF NOT EXISTS menu_items (id serial PRIMARY KEY, vendor_id int NOT NULL, name text NOT NULL, price_cents int NOT NULL);
  CREATE TABLE IF NOT EXISTS orders (
    id serial PRIMARY KEY, vendor_id int NOT NULL, item text NOT NULL,
    status text NOT NULL DEFAULT 'new', created_at timestamptz NOT NULL DEFAULT now(),
    archived boolean NOT NULL DEFAULT false);
  CREATE TABLE IF NOT EXISTS archive_runs (at timestamptz NOT NULL DEFAULT now(), instance text NOT NULL);
  INSERT INTO vendors VALUES (1, 'Pastelaria da Rua', 'pastel'), (2, 'Caldo de Cana Bom', 'cana')
    ON CONFLICT DO NOTHING;
`);

const app = express();
app.use(express.json());
app.use(
  session({
    secret: process.env.SESSION_SECRET ?? 'dev secret',
    resave: false,
    saveUninitialized: false,
  }),
);
app.use(express.static(new URL('./public', import.meta.url).pathname));

// Menus change rarely: kept in memory once read.
const menus = new Map();
async function menuOf(vendorId) {
  if (!menus.has(vendorId)) {
    const { rows } = await pool.query(
      'SELECT name, price_cents FROM menu_items WHERE vendor_id = $1',
      [vendorId],
    );
    menus.set(vendorId, rows);
  }
  return menus.get(vendorId);
}

const requireVendor = (req, res, next) => (req.session.vendorId ? next() : res.sendStatus(401));

app.post('/api/login', async (req, res) => {
  const { vendorId, password } = req.body ?? {};
  const { rows } = await pool.query(
    'SELECT id, name FROM vendors WHERE id = $1 AND password = $2',
    [Number(vendorId), String(password)],
  );
  if (!rows[0]) return res.status(401).json({ error: 'wrong vendor or password' });
  req.session.vendorId = rows[0].id;
  res.json(rows[0]);
});

app.get('/api/me', requireVendor, (req, res) => res.json({ vendorId: req.session.vendorId }));

app.get('/api/vendors/:id/menu', async (req, res) => res.json(await menuOf(Number(req.params.id))));

app.get('/api/orders', requireVendor, async (req, res) => {
  const { rows } = await pool.query(
    'SELECT * FROM orders WHERE vendor_id = $1 AND NOT archived ORDER BY id',
    [req.session.vendorId],
  );
  res.json(rows);
});

// Customers order without an account.
app.post('/api/vendors/:id/orders', async (req, res) => {
  const { rows } = await pool.query(
    'INSERT INTO orders (vendor_id, item) VALUES ($1, $2) RETURNING *',
    [Number(req.params.id), String(req.body?.item ?? '')],
  );
  broadcast(rows[0].vendor_id, 'NEW_ORDER', rows[0]);
  res.status(201).json(rows[0]);
});

app.patch('/api/orders/:id', requireVendor, async (req, res) => {
  const { rows } = await pool.query(
    'UPDATE orders SET status = $3 WHERE id = $1 AND vendor_id = $2 RETURNING *',
    [Number(req.params.id), req.session.vendorId, String(req.body?.status ?? '')],
  );
  if (!rows[0]) return res.sendStatus(404);
  broadcast(rows[0].vendor_id, 'ORDER_UPDATE', rows[0]);
  res.json(rows[0]);
});

const server = createServer(app);

// Each vendor's open dashboards.
const dashboards = new Map();
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws, req) => {
  const vendorId = new URL(req.url, 'http://localhost').searchParams.get('vendorId');
  if (!dashboards.has(vendorId)) dashboards.set(vendorId, new Set());
  dashboards.get(vendorId).add(ws);
  ws.on('close', () => dashboards.get(vendorId).delete(ws));
});

function broadcast(vendorId, type, order) {
  for (const ws of dashboards.get(String(vendorId)) ?? []) ws.send(JSON.stringify({ type, order }));
}

// Delivered orders leave the dashboard after an hour.
async function archiveDelivered() {
  await pool.query(
    `UPDATE orders SET archived = true WHERE status = 'delivered' AND created_at < now() - interval '1 hour'`,
  );
  await pool.query('INSERT INTO archive_runs (instance) VALUES ($1)', [INSTANCE]);
}
setInterval(() => archiveDelivered().catch((error) => console.error(error)), ARCHIVE_EVERY_MS);

server.listen(PORT, () =>
  console.log(`vendor dashboard on http://localhost:${PORT} (${INSTANCE})`),
);
