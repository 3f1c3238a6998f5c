import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttachOptions, createHub } from '../src/index.js';
import { afterThisTest, waitFor } from './helpers/hubs.js';
import { legacyEncode, type Vendor, vendorOfUrl, vendorRooms } from './helpers/wire-paths.js';

// The page's globals, for the functions that run in it (no DOM library in this package's setup).
declare const document: {
  querySelectorAll(selector: string): Iterable<{ textContent: string | null }>;
};
declare const window: { received: number };

const COOKIE = 'vendor';
const vendor7: Vendor = { name: 'pastelaria', vendorId: '7' };

/** The session, as the app's cookie says: the hub reads it on the upgrade. */
async function cookieAuthenticate(req: IncomingMessage): Promise<Vendor | null> {
  const match = /(?:^|;\s*)vendor=([^;]+)/.exec(req.headers.cookie ?? '');
  return match ? (JSON.parse(decodeURIComponent(match[1]!)) as Vendor) : null;
}

/** The old dashboard's script, as it was written for its single-process server. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>vendor 7</title></head><body>
<ul id="orders"></ul>
<script>
  const ws = new WebSocket('ws://' + location.host + '/ws?vendorId=7');
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    switch (data.type) {
      case 'NEW_ORDER':
      case 'ORDER_UPDATE': {
        const li = document.createElement('li');
        li.textContent = data.type + ' ' + data.order.item + ' ' + data.order.status;
        document.getElementById('orders').append(li);
      }
    }
  };
</script>
<script>
  // The test's probe, not the app's: counts what arrives, of any type.
  window.received = 0;
  ws.addEventListener('message', () => window.received++);
</script>
</body></html>`;

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
});

/** The app on the hub: its page, and the hub on /ws as `attach` says. */
async function serveDashboard(attach: AttachOptions) {
  const hub = createHub({
    authenticate: cookieAuthenticate,
    authorize: vendorRooms,
    redis: false,
    logger: false,
    roomlessAfterMs: 200,
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Set-Cookie': `${COOKIE}=${encodeURIComponent(JSON.stringify(vendor7))}; Path=/; SameSite=Strict`,
    });
    res.end(PAGE);
  });
  hub.attach(server, attach);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const page = await browser.newPage();
  afterThisTest(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await waitFor('the dashboard to connect', () => hub.stats().connections.websocket === 1);
  const orders = () =>
    page.evaluate(() => [...document.querySelectorAll('#orders li')].map((li) => li.textContent));
  return { hub, page, errors, orders };
}

describe('an old front-end in a browser (Chromium), unchanged', () => {
  it('shows each order as it comes when the path keeps its format: rooms from the URL, { type, order }', async () => {
    const { hub, page, errors, orders } = await serveDashboard({
      path: '/ws',
      rooms: vendorOfUrl,
      encode: legacyEncode,
      notices: 'none',
    });
    await waitFor('the dashboard to join', () => hub.stats().rooms === 1);
    await hub.publish('vendor:7', {
      eventType: 'NEW_ORDER',
      payload: { id: 1, item: 'pastel', status: 'new' },
    });
    await hub.publish('vendor:7', {
      eventType: 'ORDER_UPDATE',
      payload: { id: 1, item: 'pastel', status: 'ready' },
    });
    await page.waitForFunction(() => [...document.querySelectorAll('#orders li')].length === 2);
    expect(await orders()).toEqual(['NEW_ORDER pastel new', 'ORDER_UPDATE pastel ready']);
    expect(errors).toEqual([]);
  });

  it('shows nothing on a path that keeps the hub format (what the issue saw), and the hub says so', async () => {
    const { hub, page, errors, orders } = await serveDashboard({ path: '/ws' });
    await hub.publish('vendor:7', {
      eventType: 'NEW_ORDER',
      payload: { id: 1, item: 'pastel', status: 'new' },
    });
    await hub.broadcast({ eventType: 'NEW_ORDER', payload: { id: 2, item: 'x', status: 'y' } });
    // The broadcast reaches it, as { type: 'event', ... }, which the page ignores; the
    // restaurant's order never does.
    await page.waitForFunction(() => window.received === 1);
    expect(await orders()).toEqual([]);
    expect(hub.stats().rooms).toBe(0);
    await waitFor('the hub to count it', () => hub.stats().roomless === 1);
    expect(errors).toEqual([]);
  });
});
