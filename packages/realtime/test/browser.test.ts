import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '@bancada/testkit';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubOptions } from '../src/index.js';
import {
  type HubServer,
  publishNumbers,
  range,
  sharedRedis,
  startHubAt,
} from './helpers/client-hubs.js';
import type { TestUser } from './helpers/hubs.js';

// The page's globals, for the functions that run in it: this package's TypeScript setup has no
// DOM library, and adding one would change how every other file is checked.
interface Element {
  textContent: string | null;
}
declare const document: {
  getElementById(id: string): Element | null;
  querySelectorAll(selector: string): Iterable<Element> & { length: number };
};
declare const window: { states: string[] };

const CLIENT_JS = fileURLToPath(new URL('../dist/client.js', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const COOKIE = 'bancada-test-user';
const alice: TestUser = { name: 'alice', restaurantId: 'a' };
const room = 'restaurant:a';

/** Stands for a session cookie: the page's own route sets it, the hub reads it on the upgrade. */
async function cookieAuthenticate(req: IncomingMessage): Promise<TestUser | null> {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value) return JSON.parse(decodeURIComponent(value)) as TestUser;
  }
  return null;
}

/**
 * The page: the built client, connected to the hub it was served from (or, with `?ws=`, to
 * another WebSocket URL), in room `restaurant:a`; each event becomes a list item.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>@bancada/realtime/client</title>
<style>body{font:14px system-ui;margin:2em} li{display:inline-block;margin:2px;padding:2px 6px;background:#dfe}</style>
</head><body>
<h1>restaurant:a</h1>
<p>state: <b id="state">connecting</b> over <b id="transport"></b>; joined <b id="joined">0</b>; gaps <b id="gaps">0</b></p>
<ol id="events"></ol>
<script type="module">
  import { connect } from '/client.js';
  const ws = new URLSearchParams(location.search).get('ws') ?? 'ws://' + location.host + '/ws';
  const client = connect(ws, {
    backoff: { initialMs: 50, maxMs: 500 },
    sse: { url: '/events', fallbackAfter: 2 },
  });
  const count = (id) => { const el = document.getElementById(id); el.textContent = String(Number(el.textContent) + 1); };
  window.states = [];
  client.on('state', (s) => {
    window.states.push(s.state);
    document.getElementById('state').textContent = s.state;
    document.getElementById('transport').textContent = s.transport;
  });
  client.on('joined', () => count('joined'));
  client.on('gap', () => count('gaps'));
  client.on('event', (e) => {
    const li = document.createElement('li');
    li.textContent = String(e.payload);
    document.getElementById('events').append(li);
  });
  client.join('restaurant:a');
</script>
</body></html>`;

function pageRoutes(req: IncomingMessage, res: ServerResponse): boolean {
  const path = req.url?.split('?')[0];
  if (path === '/') {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Set-Cookie': `${COOKIE}=${encodeURIComponent(JSON.stringify(alice))}; Path=/; SameSite=Strict`,
    });
    res.end(PAGE);
    return true;
  }
  if (path === '/client.js') {
    res.writeHead(200, { 'Content-Type': 'application/javascript; charset=utf-8' });
    res.end(readFileSync(CLIENT_JS));
    return true;
  }
  return false;
}

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CLIENT_JS)) {
    throw new Error(`${CLIENT_JS} is missing: run \`npm run build\` at the repository root first`);
  }
  const built = statSync(CLIENT_JS).mtimeMs;
  const sources = fileURLToPath(new URL('../src/client/', import.meta.url));
  for (const name of readdirSync(sources)) {
    if (statSync(`${sources}${name}`).mtimeMs > built) {
      throw new Error(`${CLIENT_JS} is older than src/client/${name}: run \`npm run build\` first`);
    }
  }
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
});

/** What the page shows. */
async function shown(page: Page) {
  return page.evaluate(() => ({
    events: [...document.querySelectorAll('#events li')].map((li) => Number(li.textContent)),
    state: document.getElementById('state')!.textContent,
    transport: document.getElementById('transport')!.textContent,
    joined: Number(document.getElementById('joined')!.textContent),
    gaps: Number(document.getElementById('gaps')!.textContent),
    states: window.states,
  }));
}

function waitForText(page: Page, id: string, text: string) {
  return page.waitForFunction(
    ([id, text]) => document.getElementById(id!)?.textContent === text,
    [id, text],
    { timeout: 10_000 },
  );
}

function waitForEvents(page: Page, count: number) {
  return page.waitForFunction(
    (count) => document.querySelectorAll('#events li').length >= count,
    count,
    { timeout: 10_000 },
  );
}

/**
 * The page's server goes away while events keep being published on another instance, and a
 * new one comes up on the same port: the page must show every event once, in order.
 */
async function survivesARestart(pageQuery: (port: number) => Promise<string>, transport: string) {
  const shared = await sharedRedis();
  const options: Partial<HubOptions> = {
    ...shared,
    history: true,
    retryAfterMs: [50, 100],
    authenticate: cookieAuthenticate,
  };
  const publisher = await startHubAt(0, options); // another instance of the app
  let server: HubServer = await startHubAt(0, options, pageRoutes);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.httpUrl}/${await pageQuery(server.port)}`);
  await waitForText(page, 'joined', '1');
  await publishNumbers(publisher.hub, room, 0, 5);
  await waitForEvents(page, 5);

  await server.stop();
  await waitForText(page, 'state', 'reconnecting');
  await publishNumbers(publisher.hub, room, 5, 5); // while the page is disconnected
  server = await startHubAt(server.port, options, pageRoutes);
  await waitForText(page, 'joined', '2');
  await publishNumbers(publisher.hub, room, 10, 5);
  await publishNumbers(publisher.hub, room, 15, 1); // in order after any duplicate
  await waitForEvents(page, 16);

  const result = await shown(page);
  expect(result.events).toEqual(range(0, 16));
  expect(result).toMatchObject({ state: 'open', transport, gaps: 0 });
  // Over SSE, the failed WebSocket attempts come before the first 'open'.
  expect(result.states.slice(result.states.indexOf('open'))).toContain('reconnecting');
  expect(errors).toEqual([]);
  return page;
}

describe('realtime client in a browser (Chromium)', () => {
  it('reconnects over WebSocket after its server restarts, recovers the missed events in order, no duplicate', async () => {
    const page = await survivesARestart(async () => '', 'websocket');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: `${OUTPUT}browser.png`, fullPage: true });
    await page.close();
  });

  it('falls back to SSE when WebSocket cannot connect, and resumes the stream after a restart', async () => {
    const nothing = await freePort(); // stands for a proxy that blocks upgrades
    const page = await survivesARestart(
      async () => `?ws=${encodeURIComponent(`ws://127.0.0.1:${nothing}/ws`)}`,
      'sse',
    );
    await page.close();
  });
});
