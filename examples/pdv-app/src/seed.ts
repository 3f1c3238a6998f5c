import type pg from 'pg';
import { hashPassword } from './passwords.js';

/** The demo login printed at start; every seeded user has this password. */
export const DEMO_PASSWORD = 'demo-pdv';

export const DEMO_RESTAURANTS = [
  {
    id: 'sol',
    name: 'Cantina do Sol',
    plan: 'pro',
    user: { email: 'ana@sol.demo', name: 'Ana' },
    menu: [
      ['Coxinha', 'Snacks', 850],
      ['Pão de queijo', 'Snacks', 600],
      ['Feijoada', 'Mains', 4290],
      ['Moqueca', 'Mains', 5400],
      ['Picanha', 'Mains', 6890],
      ['Guaraná', 'Drinks', 700],
      ['Caipirinha', 'Drinks', 2200],
      ['Brigadeiro', 'Desserts', 500],
    ],
  },
  {
    id: 'lua',
    name: 'Bistrô da Lua',
    plan: 'starter',
    user: { email: 'leo@lua.demo', name: 'Leo' },
    menu: [
      ['Sopa do dia', 'Starters', 1800],
      ['Risoto de cogumelos', 'Mains', 5200],
      ['Bacalhau', 'Mains', 7400],
      ['Água com gás', 'Drinks', 600],
      ['Vinho da casa', 'Drinks', 2800],
      ['Pudim', 'Desserts', 1400],
    ],
  },
] as const;

/** Adds the demo restaurants, users and menus that are missing; never changes existing rows. */
export async function seed(pool: pg.Pool): Promise<void> {
  for (const restaurant of DEMO_RESTAURANTS) {
    await pool.query(
      'INSERT INTO restaurants (id, name, plan) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
      [restaurant.id, restaurant.name, restaurant.plan],
    );
    const existing = await pool.query('SELECT 1 FROM users WHERE email = $1', [
      restaurant.user.email,
    ]);
    if (existing.rowCount === 0) {
      await pool.query(
        `INSERT INTO users (email, name, password_hash, restaurant_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO NOTHING`,
        [
          restaurant.user.email,
          restaurant.user.name,
          await hashPassword(DEMO_PASSWORD),
          restaurant.id,
        ],
      );
    }
    for (const [name, category, priceCents] of restaurant.menu) {
      await pool.query(
        `INSERT INTO menu_items (restaurant_id, name, category, price_cents) VALUES ($1, $2, $3, $4)
         ON CONFLICT (restaurant_id, name) DO NOTHING`,
        [restaurant.id, name, category, priceCents],
      );
    }
  }
}
