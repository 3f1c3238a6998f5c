import { fileURLToPath } from 'node:url';
import { createDatabase, readmeCode, runReadmeApp } from '@bancada/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, connectClient, openSse, upgradeRefusal, waitFor } from './helpers/hubs.js';

// The README examples, run as pasted (as ES modules in a node process, this package and
// @bancada/session from their source), and their pages in a real browser.

// The page's globals, for the functions that run in it (no DOM library in this setup).
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): Iterable<{ textContent: string | null }>;
};
declare const events: { readyState: number };

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const README = `${PACKAGE}README.md`;
const SESSION_README = fileURLToPath(new URL('../../session/README.md', import.meta.url));
const sources = {
  '@bancada/realtime': `${PACKAGE}src/index.ts`,
  '@bancada/session': fileURLToPath(new URL('../../session/src/index.ts', import.meta.url)),
};
const secret = 'a README secret of 32 characters or more';

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
});

async function newPage() {
  const page = await browser.newPage();
  afterThisTest(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return { page, errors };
}

describe('the README examples', () => {
  it("@bancada/session's server with this README's hub: the user joins their restaurant, and no other", async () => {
    const db = await createDatabase('realtime_readme');
    afterThisTest(() => db.drop());
    const code = `${readmeCode(SESSION_README, '## Example')}\n${readmeCode(README, '### With @bancada/session')}`;
    const app = await runReadmeApp(PACKAGE, code, {
      sources,
      env: { DATABASE_URL: db.url, SESSION_SECRET: secret },
    });

    const login = await fetch(`${app.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ana', password: 'whatever' }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')?.split(';')[0];
    expect(cookie).toMatch(/^sid=/);

    const browserLike = await connectWithCookie(app.url.replace('http', 'ws'), cookie!);
    browserLike.send({ type: 'auth', restaurantId: 'a' });
    browserLike.send({ type: 'auth', restaurantId: 'b' });
    await waitFor('both answers', () => browserLike.messages.length === 2);
    expect(browserLike.messages).toEqual([
      { type: 'joined', room: 'restaurant:a' },
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
    ]);
    const sse = await openSse(`${app.url}/events?restaurantId=a`, undefined, { cookie: cookie! });
    expect(sse.status).toBe(200);
    expect((await openSse(`${app.url}/events?restaurantId=a`)).status).toBe(401); // no cookie
    expect(app.process.stdout + app.process.stderr).not.toContain('BANCADA_REALTIME_NO_RESTAURANT');
  });

  it('the token example: the kitchen page connects with the token in its URL and shows the orders', async () => {
    const code = readmeCode(README, '### Tokens, for an app without sessions');
    const app = await runReadmeApp(PACKAGE, code, {
      sources,
      env: { REALTIME_SECRET: secret, KITCHEN_KEY: 'kitchen-key-1' },
    });
    expect((await fetch(`${app.url}/kitchen`)).status).toBe(403); // no key, no token
    expect((await fetch(`${app.url}/kitchen?key=wrong`)).status).toBe(403);

    const { page, errors } = await newPage();
    await page.goto(`${app.url}/kitchen?key=kitchen-key-1`);
    const items = () =>
      page.evaluate(() =>
        [...document.querySelectorAll('#orders li')].map((li) => JSON.parse(li.textContent!)),
      );
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].length === 1);
    expect(await items()).toEqual([{ type: 'joined', room: 'restaurant:a' }]);
    await fetch(`${app.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ table: 4 }),
    });
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].length === 2);
    expect((await items())[1]).toMatchObject({
      type: 'event',
      eventType: 'order-created',
      payload: { table: 4 },
    });
    expect(errors).toEqual([]);
    // Without the page's token, nobody gets in.
    expect((await upgradeRefusal(`${app.url.replace('http', 'ws')}/ws`)).status).toBe(401);
  });

  it('the order-status example: a customer with no login follows their order; the restaurant room stays closed', async () => {
    const code = readmeCode(README, '### Anonymous clients and public rooms');
    const app = await runReadmeApp(PACKAGE, code, { sources, env: { REALTIME_SECRET: secret } });
    const created = await fetch(`${app.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'soup' }),
    });
    const order = (await created.json()) as { id: string; page: string };
    expect(order.page).toBe(`/orders/${order.id}`);

    const { page, errors } = await newPage();
    await page.goto(`${app.url}${order.page}`);
    expect(await page.evaluate(() => document.getElementById('status')!.textContent)).toBe(
      'being prepared',
    );
    await page.waitForFunction(() => events.readyState === 1); // the stream is open
    await fetch(`${app.url}/orders/${order.id}/ready`, { method: 'POST' });
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'ready');
    expect(errors).toEqual([]);

    // The same anonymous customer, asking for what is not theirs to see.
    const customer = await connectClient(`${app.url.replace('http', 'ws')}/ws`);
    customer.send({ type: 'subscribe', room: 'restaurant:a' });
    customer.send({ type: 'subscribe', room: `order:${order.id}` });
    await waitFor('both answers', () => customer.messages.length === 2);
    expect(customer.messages).toEqual([
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:a' }),
      { type: 'joined', room: `order:${order.id}` },
    ]);
    expect((await openSse(`${app.url}/events?restaurantId=a`)).status).toBe(403);
  });
});

/** A WebSocket client that sends a cookie, as the browser of the logged-in user would. */
async function connectWithCookie(wsBase: string, cookie: string) {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`${wsBase}/ws`, { headers: { cookie } });
  afterThisTest(() => ws.terminate());
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { messages, send: (m: unknown) => ws.send(JSON.stringify(m)) };
}
