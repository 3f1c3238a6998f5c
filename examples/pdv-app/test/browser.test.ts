import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createDatabase,
  keyPrefix,
  type PrivateRedis,
  startRedis,
  type TestDatabase,
} from '@bancada/testkit';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Order } from '../src/orders.js';
import { loginCookie, type RunningPdv, startPdv } from './helpers/instances.js';

const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
// What GET /assets/realtime-client.js serves: without it the pages have no live updates.
const CLIENT_SDK = fileURLToPath(
  new URL('../../../packages/realtime/dist/client.js', import.meta.url),
);
const PASSWORD = 'demo-pdv';
const SOL = 'ana@sol.demo';
const LUA = 'leo@lua.demo';
/** The issue: "the kitchen screen on instance 2 shows it within 2 s". */
const BUDGET_MS = 2000;
/** For everything else: a bound, not a speed claim. */
const SETTLE_MS = 10_000;
const VIEWPORT = { width: 1200, height: 750 };

let redis: PrivateRedis | undefined;
let database: TestDatabase | undefined;
let one: RunningPdv | undefined;
let two: RunningPdv | undefined;
let browser: Browser | undefined;
let contexts: BrowserContext[] = [];
let pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CLIENT_SDK)) {
    throw new Error(`${CLIENT_SDK} is missing: run \`npm run build\` at the repository root first`);
  }
  redis = await startRedis();
  database = await createDatabase('pdv_browser');
  const prefix = keyPrefix('pdv-browser');
  // One after the other: both would migrate and seed the new database at once otherwise.
  one = await startPdv({
    databaseUrl: database.url,
    redisUrl: redis.url,
    instanceId: 'pdv-browser-1',
    prefix,
    sessionCheckMs: 1000, // a logout shows on the screens within a second or so
  });
  two = await startPdv({
    databaseUrl: database.url,
    redisUrl: redis.url,
    instanceId: 'pdv-browser-2',
    prefix,
    sessionCheckMs: 1000,
  });
  // Debian's chromium (no browser download); CHROMIUM_PATH for one elsewhere.
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  mkdirSync(OUTPUT, { recursive: true });
});

afterEach(async () => {
  const open = contexts;
  contexts = [];
  await Promise.allSettled(open.map((context) => context.close()));
  pageErrors = [];
  // A test that failed during an outage leaves the next one a working Redis.
  if (redis && !redis.isRunning) await redis.restart();
});

afterAll(async () => {
  // Each step runs even if one before it failed; the private Redis goes away whole.
  const steps = [
    () => browser?.close(),
    () => one?.close(),
    () => two?.close(),
    () => redis?.stop(),
    () => database?.drop(),
  ];
  const failures: unknown[] = [];
  for (const step of steps) {
    await Promise.resolve()
      .then(step)
      .catch((error) => failures.push(error));
  }
  if (failures.length > 0) throw failures[0];
});

function instance(pdv: RunningPdv | undefined): RunningPdv {
  if (!pdv) throw new Error('the app did not start (beforeAll failed)');
  return pdv;
}

async function newContext(): Promise<BrowserContext> {
  if (!browser) throw new Error('the browser did not start (beforeAll failed)');
  const context = await browser.newContext({ viewport: VIEWPORT });
  contexts.push(context);
  return context;
}

function watch(page: Page, name: string): { loads: number } {
  const seen = { loads: 0 };
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  page.on('load', () => {
    seen.loads++;
  });
  return seen;
}

const badge = (page: Page) => page.locator('[data-testid="connection"]');

/** Waits until the page's realtime client is connected (and says so in its badge). */
async function live(page: Page, transport = 'websocket') {
  await page.locator(`[data-testid="connection"][data-state="open"]`).waitFor({
    timeout: SETTLE_MS,
  });
  expect(await badge(page).getAttribute('data-transport')).toBe(transport);
  expect(await badge(page).textContent()).toBe(`live · ${transport}`);
}

/** A screen logged in as `email` through the API (the login's cookies put in the browser). */
async function openScreen(pdv: RunningPdv, email: string, path: string, name: string) {
  const context = await newContext();
  const cookies = (await loginCookie(pdv.url, email, PASSWORD)).split('; ').map((pair) => {
    const [cookieName, ...value] = pair.split('=');
    return { name: cookieName!, value: value.join('='), url: pdv.url };
  });
  await context.addCookies(cookies);
  const page = await context.newPage();
  const seen = watch(page, name);
  await page.goto(`${pdv.url}${path}`);
  await live(page, path.includes('transport=sse') ? 'sse' : 'websocket');
  return { page, seen };
}

/** A screen as a person reaches it: `path`, sent to the login form, and back to `path`. */
async function throughLogin(pdv: RunningPdv, email: string, path: string, name: string) {
  const context = await newContext();
  const page = await context.newPage();
  const seen = watch(page, name);
  await page.goto(`${pdv.url}${path}`);
  await page.waitForURL(`${pdv.url}/login?next=${encodeURIComponent(path)}`);
  await page.fill('[data-testid="email"]', email);
  await page.fill('[data-testid="password"]', PASSWORD);
  await page.click('[data-testid="login-submit"]');
  await page.waitForURL(`${pdv.url}${path}`);
  await live(page);
  seen.loads = 1; // the login page's own load does not count
  return { page, seen };
}

interface Ticket {
  table: string;
  dishes: Array<[name: string, qty: number]>;
  note?: string;
}

/** Taps the dishes, fills the table and note, sends (`onSent` just before); resolves with the order. */
async function takeOrder(cashier: Page, ticket: Ticket, onSent?: () => void): Promise<Order> {
  for (const [name, qty] of ticket.dishes) {
    const dish = cashier.locator('[data-testid="menu-item"]', { hasText: name });
    for (let i = 0; i < qty; i++) await dish.click();
  }
  await cashier.fill('[data-testid="table"]', ticket.table);
  if (ticket.note) await cashier.fill('[data-testid="note"]', ticket.note);
  const created = cashier.waitForResponse(
    (response) =>
      new URL(response.url()).pathname === '/api/orders' && response.request().method() === 'POST',
  );
  onSent?.();
  await cashier.click('[data-testid="send-order"]');
  const response = await created;
  const body = await response.json();
  expect(response.status(), JSON.stringify(body)).toBe(201);
  return body as Order;
}

const cardSelector = (id: number) => `[data-testid="order-card"][data-order-id="${id}"]`;
const card = (page: Page, id: number) => page.locator(cardSelector(id));

/** Every card the kitchen shows for `id`, and the columns they are in. */
async function cardsOf(page: Page, id: number) {
  const columns: string[] = [];
  for (const status of ['new', 'preparing', 'ready']) {
    const here = await page.locator(`[data-testid="column-${status}"] ${cardSelector(id)}`).count();
    for (let i = 0; i < here; i++) columns.push(status);
  }
  return { count: await card(page, id).count(), columns };
}

/** What a cook reads on the card of order `id`. */
async function readCard(page: Page, id: number) {
  const shown = card(page, id);
  return {
    status: await shown.getAttribute('data-status'),
    title: await shown.locator('[data-testid="order-title"]').textContent(),
    items: await shown.locator('[data-testid="order-items"] li').allTextContents(),
    note: (await shown.locator('[data-testid="order-note"]').count())
      ? await shown.locator('[data-testid="order-note"]').textContent()
      : null,
    button: await shown.locator('[data-testid="advance"]').textContent(),
  };
}

async function waitForColumn(page: Page, id: number, status: string) {
  await page
    .locator(`[data-testid="column-${status}"] ${cardSelector(id)}`)
    .waitFor({ timeout: SETTLE_MS });
  expect(await cardsOf(page, id)).toEqual({ count: 1, columns: [status] });
}

/** Waits until the cashier's list shows order `id` once, with `status`. */
async function waitForRow(page: Page, id: number, status: string) {
  const row = page.locator(`[data-testid="order-row"][data-order-id="${id}"]`);
  await page
    .locator(`[data-testid="order-row"][data-order-id="${id}"][data-status="${status}"]`)
    .waitFor({ timeout: SETTLE_MS });
  expect(await row.count()).toBe(1);
}

async function cardIds(page: Page): Promise<number[]> {
  const ids: number[] = [];
  for (const shown of await page.locator('[data-testid="order-card"]').all()) {
    ids.push(Number(await shown.getAttribute('data-order-id')));
  }
  return ids;
}

/** An order made through the API (as another till would), moved on to `status`. */
async function apiOrder(
  pdv: RunningPdv,
  email: string,
  table: string,
  dishes: Array<[name: string, qty: number]>,
  status: Order['status'] = 'new',
  note?: string,
): Promise<Order> {
  const cookie = await loginCookie(pdv.url, email, PASSWORD);
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${pdv.url}${path}`, {
      method,
      headers: { cookie, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await response.json();
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const { items: menu } = (await call('GET', '/api/menu')) as {
    items: Array<{ id: number; name: string }>;
  };
  const items = dishes.map(([name, qty]) => {
    const dish = menu.find((item) => item.name === name);
    if (!dish) throw new Error(`${name} is not on the menu of ${email}`);
    return { menuItemId: dish.id, qty };
  });
  let order = (await call('POST', '/api/orders', { table, items, note })) as Order;
  for (const next of ['preparing', 'ready', 'delivered'] as const) {
    if (order.status === status) break;
    order = (await call('PATCH', `/api/orders/${order.id}`, { status: next })) as Order;
  }
  return order;
}

async function health(pdv: RunningPdv) {
  const response = await fetch(`${pdv.url}/health`);
  return { httpStatus: response.status, ...((await response.json()) as Record<string, unknown>) };
}

describe('pdv-app in a browser: two instances on one Redis and one Postgres', () => {
  it('shows an order the cashier takes on instance 1 on the kitchen of instance 2 within 2 s, and not on the kitchen of another restaurant', async () => {
    const [first, second] = [instance(one), instance(two)];
    // A service already under way: the board opens on orders in every column.
    const cooking = await apiOrder(
      first,
      SOL,
      '4',
      [
        ['Feijoada', 2],
        ['Caipirinha', 2],
      ],
      'preparing',
    );
    const done = await apiOrder(
      second,
      SOL,
      '9',
      [
        ['Moqueca', 1],
        ['Guaraná', 2],
      ],
      'ready',
    );
    const waiting = await apiOrder(
      first,
      SOL,
      '2',
      [
        ['Picanha', 1],
        ['Pão de queijo', 3],
      ],
      'new',
      'bem passada',
    );

    const cashier = await throughLogin(first, SOL, '/cashier', 'cashier@1');
    const kitchen = await openScreen(second, SOL, '/kitchen', 'kitchen@2');
    const kitchenSse = await openScreen(second, SOL, '/kitchen?transport=sse', 'kitchen-sse@2');
    const otherKitchen = await throughLogin(second, LUA, '/kitchen', 'lua-kitchen@2');

    for (const page of [kitchen.page, kitchenSse.page]) {
      await waitForColumn(page, waiting.id, 'new');
      await waitForColumn(page, cooking.id, 'preparing');
      await waitForColumn(page, done.id, 'ready');
    }
    expect(await cardIds(otherKitchen.page)).toEqual([]);
    await cashier.page.locator('[data-testid="menu-item"]').first().waitFor();
    expect(await cashier.page.locator('[data-testid="restaurant-name"]').textContent()).toBe(
      'Cantina do Sol',
    );
    expect(await otherKitchen.page.locator('[data-testid="restaurant-name"]').textContent()).toBe(
      'Bistrô da Lua',
    );

    let sentAt = 0;
    const order = await takeOrder(
      cashier.page,
      {
        table: '7',
        dishes: [
          ['Coxinha', 2],
          ['Guaraná', 1],
        ],
        note: 'sem cebola',
      },
      () => {
        sentAt = performance.now();
      },
    );
    for (const page of [kitchen.page, kitchenSse.page]) {
      const left = BUDGET_MS - (performance.now() - sentAt);
      await card(page, order.id).waitFor({ timeout: Math.max(1, left) });
    }
    expect(performance.now() - sentAt).toBeLessThan(BUDGET_MS);

    for (const page of [kitchen.page, kitchenSse.page]) {
      expect(await cardsOf(page, order.id)).toEqual({ count: 1, columns: ['new'] });
      expect(await readCard(page, order.id)).toEqual({
        status: 'new',
        title: `#${order.id} · table 7`,
        items: ['2× Coxinha', '1× Guaraná'],
        note: 'sem cebola',
        button: 'Start',
      });
    }
    const row = cashier.page.locator(`[data-testid="order-row"][data-order-id="${order.id}"]`);
    await row.waitFor({ timeout: SETTLE_MS });
    expect(await row.getAttribute('data-status')).toBe('new');
    expect(await cashier.page.locator('[data-testid="ticket-message"]').textContent()).toBe(
      `Order #${order.id} for table 7 sent to the kitchen.`,
    );
    expect(await cashier.page.locator('[data-testid="ticket-total"]').textContent()).toMatch(
      /^R\$\s0,00$/,
    );

    // Another restaurant's kitchen on the same instance: its own order arrives, Sol's never.
    // Sol's event reached instance 2 before this order existed, so a leak would be on screen.
    const luaOrder = await apiOrder(first, LUA, 'L1', [['Pudim', 1]]);
    await card(otherKitchen.page, luaOrder.id).waitFor({ timeout: SETTLE_MS });
    expect(await cardIds(otherKitchen.page)).toEqual([luaOrder.id]);
    expect(await otherKitchen.page.locator('body').textContent()).not.toContain('Coxinha');

    await cashier.page.screenshot({ path: `${OUTPUT}cashier.png` });
    await kitchen.page.screenshot({ path: `${OUTPUT}kitchen.png` });
    await otherKitchen.page.screenshot({ path: `${OUTPUT}kitchen-other-restaurant.png` });

    // The kitchen moves it along; every screen follows, with one card per order throughout.
    await card(kitchen.page, order.id).locator('[data-testid="advance"]').click();
    await waitForColumn(kitchen.page, order.id, 'preparing');
    await waitForColumn(kitchenSse.page, order.id, 'preparing');
    await waitForRow(cashier.page, order.id, 'preparing');

    await card(kitchenSse.page, order.id).locator('[data-testid="advance"]').click();
    await waitForColumn(kitchen.page, order.id, 'ready');
    await waitForColumn(kitchenSse.page, order.id, 'ready');
    const deliver = row.locator('[data-testid="deliver"]');
    await deliver.waitFor({ timeout: SETTLE_MS });

    await deliver.click();
    for (const page of [kitchen.page, kitchenSse.page]) {
      await card(page, order.id).waitFor({ state: 'detached', timeout: SETTLE_MS });
      expect((await cardIds(page)).sort((a, b) => a - b)).toEqual(
        [waiting.id, cooking.id, done.id].sort((a, b) => a - b),
      );
    }
    await row.waitFor({ state: 'detached', timeout: SETTLE_MS });

    expect({ cashier: cashier.seen.loads, kitchen: kitchen.seen.loads }).toEqual({
      cashier: 1,
      kitchen: 1,
    });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('keeps each instance updating its own screens while Redis is down, says degraded, and resumes across instances without a reload when Redis is back', async () => {
    const { first, second, cashier1, cashier2, kitchen1, kitchen2, screens } = await fourScreens();

    await outage(first, second);
    // Alone, each instance still serves its own screens.
    const during1 = await takeOrder(cashier1.page, { table: 'R1', dishes: [['Coxinha', 1]] });
    const during2 = await takeOrder(cashier2.page, { table: 'R2', dishes: [['Brigadeiro', 2]] });
    await waitForColumn(kitchen1.page, during1.id, 'new');
    await waitForColumn(kitchen2.page, during2.id, 'new');
    await card(kitchen1.page, during1.id).locator('[data-testid="advance"]').click();
    await waitForColumn(kitchen1.page, during1.id, 'preparing');
    await waitForRow(cashier1.page, during1.id, 'preparing');
    for (const screen of screens) {
      expect(await badge(screen.page).getAttribute('data-state')).toBe('open');
    }

    await recovery(first, second);
    // Live across instances again, both ways.
    const after = await takeOrder(cashier1.page, { table: 'R3', dishes: [['Feijoada', 1]] });
    await waitForColumn(kitchen2.page, after.id, 'new');
    await waitForColumn(kitchen1.page, after.id, 'new');
    await card(kitchen2.page, after.id).locator('[data-testid="advance"]').click();
    await waitForColumn(kitchen1.page, after.id, 'preparing');
    await waitForRow(cashier1.page, after.id, 'preparing');
    await waitForRow(cashier2.page, after.id, 'preparing');

    for (const screen of screens) {
      expect(screen.seen.loads).toBe(1); // no reload, by the page or by the test
      await live(screen.page);
    }
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows, once Redis is back, the orders another instance took while it was down', async () => {
    const { first, second, cashier1, cashier2, kitchen1, kitchen2, screens } = await fourScreens();

    await outage(first, second);
    const during1 = await takeOrder(cashier1.page, { table: 'M1', dishes: [['Moqueca', 1]] });
    const during2 = await takeOrder(cashier2.page, { table: 'M2', dishes: [['Picanha', 1]] });
    await waitForColumn(kitchen1.page, during1.id, 'new');
    await waitForColumn(kitchen2.page, during2.id, 'new');

    await recovery(first, second);
    // Nobody takes another order: the screens must catch up on their own (the hub's gap
    // notice makes them load the list again), or the kitchen never cooks these.
    await waitForColumn(kitchen2.page, during1.id, 'new');
    await waitForColumn(kitchen1.page, during2.id, 'new');
    await waitForRow(cashier2.page, during1.id, 'new');
    await waitForRow(cashier1.page, during2.id, 'new');
    for (const screen of screens) expect(screen.seen.loads).toBe(1);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

describe('pdv-app login page', () => {
  it('sends a user back only to a page of this site, whatever `next` says', async () => {
    const pdv = instance(one);
    const page = await (await newContext()).newPage();
    await page.goto(`${pdv.url}/login`);
    const offSite = [
      '//evil.example',
      '/\\evil.example',
      '/\t/evil.example',
      '/.//evil.example',
      '/..//evil.example',
      '/%2e//evil.example',
      '/./\\evil.example',
      'https://evil.example/',
      'javascript:alert(1)',
    ];
    // The page's own module, as the login page loads it. A string, so that the test runner
    // does not rewrite import() for Node.
    const localUrl = (inputs: string[]) =>
      page.evaluate(
        `import('/assets/api.js').then(({ localUrl }) => ${JSON.stringify(inputs)}.map((input) => localUrl(input) ?? null))`,
      );
    expect(await localUrl(offSite)).toEqual(offSite.map(() => null));
    const [here] = (await localUrl(['/kitchen?transport=sse'])) as string[];
    expect(here).toBe(`${pdv.url}/kitchen?transport=sse`);

    // End to end: after logging in through a crafted link, the browser is still on this site.
    await page.goto(`${pdv.url}/login?next=${encodeURIComponent('/.//evil.example')}`);
    await page.fill('[data-testid="email"]', SOL);
    await page.fill('[data-testid="password"]', PASSWORD);
    await page.click('[data-testid="login-submit"]');
    await page.waitForURL(`${pdv.url}/cashier`);
    expect(pageErrors).toEqual([]);
  });
});

describe('pdv-app logout', () => {
  it('sends a kitchen screen on instance 2 to the login page when its session logs out on instance 1', async () => {
    const { page } = await openScreen(instance(two), SOL, '/kitchen', 'kitchen-logout@2');
    const cookie = (await page.context().cookies())
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
    const logout = await fetch(`${instance(one).url}/api/logout`, {
      method: 'POST',
      headers: { cookie },
    });
    expect(logout.status).toBe(204);
    // The hub on instance 2 finds the session gone and closes the screen; its reconnect is
    // refused (401), and the page asks for a login rather than go quiet.
    await page.waitForURL(`${instance(two).url}/login?next=${encodeURIComponent('/kitchen')}`, {
      timeout: 10_000,
    });
    expect(pageErrors).toEqual([]);
  });
});

/** A cashier and a kitchen of one restaurant on each instance, all connected. */
async function fourScreens() {
  const [first, second] = [instance(one), instance(two)];
  const cashier1 = await openScreen(first, SOL, '/cashier', 'cashier@1');
  const cashier2 = await openScreen(second, SOL, '/cashier', 'cashier@2');
  const kitchen1 = await openScreen(first, SOL, '/kitchen', 'kitchen@1');
  const kitchen2 = await openScreen(second, SOL, '/kitchen', 'kitchen@2');
  for (const cashier of [cashier1, cashier2]) {
    await cashier.page.locator('[data-testid="menu-item"]').first().waitFor({ timeout: SETTLE_MS });
  }
  return {
    first,
    second,
    cashier1,
    cashier2,
    kitchen1,
    kitchen2,
    screens: [cashier1, cashier2, kitchen1, kitchen2],
  };
}

/** Kills the private Redis (as a crash would) and waits until both instances say degraded. */
async function outage(...instances: RunningPdv[]) {
  await redis!.kill();
  for (const pdv of instances) {
    await expect
      .poll(() => health(pdv), { timeout: SETTLE_MS })
      .toMatchObject({ httpStatus: 200, status: 'degraded', redis: 'down' });
  }
}

/** Starts Redis again and waits until both instances are distributed again. */
async function recovery(...instances: RunningPdv[]) {
  await redis!.restart();
  for (const pdv of instances) {
    await expect
      .poll(() => health(pdv), { timeout: SETTLE_MS })
      .toMatchObject({ httpStatus: 200, status: 'ok', redis: 'up' });
  }
}
