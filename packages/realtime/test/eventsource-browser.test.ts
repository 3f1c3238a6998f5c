import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub, type HubOptions } from '../src/index.js';
import { publishNumbers, range, sharedRedis } from './helpers/client-hubs.js';
import { afterThisTest, type TestUser, waitFor } from './helpers/hubs.js';

// The page's globals, for the functions that run in it (no DOM library in this package's setup).
declare const window: { messages: Array<{ data: Record<string, unknown>; lastEventId: string }> };

const COOKIE = 'bancada-test-user';
const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const room = 'restaurant:a';

async function cookieAuthenticate(req: IncomingMessage): Promise<TestUser | null> {
  const match = /(?:^|;\s*)bancada-test-user=([^;]+)/.exec(req.headers.cookie ?? '');
  return match ? (JSON.parse(decodeURIComponent(match[1]!)) as TestUser) : null;
}

/**
 * A page as the original apps wrote it: a plain EventSource and its onmessage, nothing else.
 * The probe listener of a named type shows that no message is named.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>plain EventSource</title></head><body>
<script>
  window.messages = [];
  window.named = 0;
  const es = new EventSource('/events?restaurantId=a');
  es.onmessage = (m) => window.messages.push({ data: JSON.parse(m.data), lastEventId: m.lastEventId });
  es.addEventListener('tick', () => window.named++);
</script>
</body></html>`;

/** What the server saw of each SSE request: when it came and the Last-Event-ID it sent. */
interface StreamRequest {
  at: number;
  lastEventId: string | undefined;
}

interface PageServer {
  hub: Hub;
  port: number;
  requests: StreamRequest[];
  stop(): Promise<void>;
}

/** The app: its page on /, and `hub.sse({ events: 'message' })` on /events, on `port` (0: any). */
async function servePage(port: number, options: Partial<HubOptions>): Promise<PageServer> {
  const hub = createHub({ authenticate: cookieAuthenticate, logger: false, ...options });
  const sse = hub.sse({ events: 'message' });
  const requests: StreamRequest[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/events')) {
      const header = req.headers['last-event-id'];
      requests.push({
        at: Date.now(),
        lastEventId: typeof header === 'string' ? header : undefined,
      });
      sse(req, res);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Set-Cookie': `${COOKIE}=${encodeURIComponent(JSON.stringify(alice))}; Path=/; SameSite=Strict`,
    });
    res.end(PAGE);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await hub.close(); // ends each stream with its `retry:`
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    })();
    return stopping;
  };
  afterThisTest(stop);
  if (!(await hub.ready(5000))) throw new Error('the hub did not connect to Redis within 5 s');
  return { hub, port: (server.address() as AddressInfo).port, requests, stop };
}

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
});

async function openPage(port: number): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  afterThisTest(() => page.close());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  return { page, errors };
}

function messages(page: Page) {
  return page.evaluate(() => window.messages);
}

function waitForMessages(page: Page, count: number) {
  return page.waitForFunction((count) => window.messages.length >= count, count, {
    timeout: 15_000,
  });
}

/** The payloads of the events the page got, in order. */
function payloads(list: Array<{ data: Record<string, unknown> }>): unknown[] {
  return list.filter((m) => m.data.type === 'event').map((m) => m.data.payload);
}

describe("hub.sse({ events: 'message' }) and a browser's plain EventSource (Chromium)", () => {
  it('gives onmessage every event, its type inside the data, and no named message', async () => {
    const app = await servePage(0, { redis: false });
    const { page, errors } = await openPage(app.port);
    await waitFor('the stream to open', () => app.hub.stats().rooms === 1);
    await publishNumbers(app.hub, room, 0, 3);
    await waitForMessages(page, 3);
    const got = await messages(page);
    expect(got.map((m) => m.data)).toMatchObject(
      range(0, 3).map((n) => ({ type: 'event', eventType: 'tick', room, payload: n })),
    );
    // Each carries its id, which the browser keeps for Last-Event-ID.
    expect(got.map((m) => m.lastEventId)).toEqual(got.map((m) => m.data.id));
    expect(await page.evaluate(() => (window as unknown as { named: number }).named)).toBe(0);
    expect(errors).toEqual([]);
  });

  it('reconnects after the retry: its server sent, with Last-Event-ID, and resumes without loss or duplicate', async () => {
    const retryMs = 4000; // longer than Chromium's own 3 s, so that honouring it shows
    const options: Partial<HubOptions> = {
      ...(await sharedRedis()),
      history: true,
      retryAfterMs: [retryMs, retryMs],
    };
    const publisher = await servePage(0, options); // another instance of the app
    let app = await servePage(0, options);
    const { page, errors } = await openPage(app.port);
    await waitFor('the stream to open', () => app.hub.stats().rooms === 1);
    await publishNumbers(publisher.hub, room, 0, 5);
    await waitForMessages(page, 5);
    const lastSeen = (await messages(page))[4]!.lastEventId;

    const closedAt = Date.now();
    await app.stop();
    await publishNumbers(publisher.hub, room, 5, 5); // while the page is away
    app = await servePage(app.port, options);
    await waitFor('the browser to come back', () => app.requests.length === 1, 15_000);
    expect(app.requests[0]!.lastEventId).toBe(lastSeen);
    expect(app.requests[0]!.at - closedAt).toBeGreaterThanOrEqual(retryMs);
    await publishNumbers(publisher.hub, room, 10, 5);
    await waitForMessages(page, 15);

    const got = await messages(page);
    expect(payloads(got)).toEqual(range(0, 15));
    expect(got.every((m) => m.data.type === 'event')).toBe(true); // no gap: nothing was lost
    expect(errors).toEqual([]);
  }, 30_000);

  it('shows a gap to onmessage, as { type: "gap", room }, when what the page missed cannot be replayed', async () => {
    const options: Partial<HubOptions> = {
      ...(await sharedRedis()),
      history: { maxReplay: 3 },
      retryAfterMs: [100, 100],
    };
    const publisher = await servePage(0, options);
    let app = await servePage(0, options);
    const { page, errors } = await openPage(app.port);
    await waitFor('the stream to open', () => app.hub.stats().rooms === 1);
    await publishNumbers(publisher.hub, room, 0, 2);
    await waitForMessages(page, 2);

    await app.stop();
    await publishNumbers(publisher.hub, room, 2, 6); // more than one resume may replay
    app = await servePage(app.port, options);
    await waitFor('the browser to come back', () => app.requests.length === 1, 15_000);
    await page.waitForFunction(() => window.messages.some((m) => m.data.type === 'gap'), null, {
      timeout: 15_000,
    });
    await publishNumbers(publisher.hub, room, 8, 1);
    await page.waitForFunction(() => window.messages.some((m) => m.data.payload === 8), null, {
      timeout: 15_000,
    });

    const got = await messages(page);
    const gapAt = got.findIndex((m) => m.data.type === 'gap');
    expect(got[gapAt]!.data).toEqual({ type: 'gap', room });
    expect(payloads(got.slice(0, gapAt))).toEqual([0, 1]);
    expect(payloads(got.slice(gapAt)).at(-1)).toBe(8); // live again after the gap
    expect(errors).toEqual([]);
  }, 30_000);

  it("refuses events: 'named' with an encode, and an unknown events value, when the handler is made", () => {
    const hub = createHub({ authenticate: cookieAuthenticate, logger: false, redis: false });
    afterThisTest(() => hub.close());
    expect(() => hub.sse({ events: 'named', encode: (e) => e.eventType })).toThrow(
      /events: 'named' cannot go with encode/,
    );
    expect(() => hub.sse({ events: 'plain' as never })).toThrow(
      /sse\(\) events must be 'named' or 'message', got "plain"/,
    );
    expect(() => hub.sse({ events: 'message', encode: (e) => e.eventType })).not.toThrow();
  });
});
