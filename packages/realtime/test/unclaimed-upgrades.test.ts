import type { ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type BundledScripts, bundleScripts, runNode } from '@bancada/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createHub } from '../src/index.js';
import { afterThisTest, connectClient, waitFor } from './helpers/hubs.js';

/** Low enough that the 1,000 upgrades below would use it up several times over if kept. */
const FILE_LIMIT = 256;

let scripts: BundledScripts;
beforeAll(async () => {
  scripts = await bundleScripts(fileURLToPath(new URL('..', import.meta.url)), {
    'upgrade-child': 'test/helpers/upgrade-child.ts',
  });
});
afterAll(() => scripts.remove());

/** The child under `ulimit -n FILE_LIMIT`, once it listens. */
async function startChild(appWs: boolean): Promise<{ child: ChildProcess; port: number }> {
  const running = runNode(
    scripts.paths['upgrade-child']!,
    [],
    { UPGRADE_CHILD_APP_WS: appWs ? '1' : '0' },
    { fileLimit: FILE_LIMIT, ipc: true },
  );
  const child = running.process;
  afterThisTest(() => child.kill('SIGKILL'));
  await waitFor('the child to listen', () => {
    if (child.exitCode !== null) throw new Error(`the child exited: ${running.stderr}`);
    return /listening \d+/.test(running.stdout);
  });
  return { child, port: Number(/listening (\d+)/.exec(running.stdout)![1]) };
}

function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function unclaimedCount(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (n) => resolve(Number(n)));
    child.send('stats');
  });
}

/** One `GET <path>` with the upgrade headers, closed by the client right after sending it. */
function upgradeAndHangUp(port: number, path: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\n` +
          'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    });
    socket.resume(); // read the answer, if any, so that the socket can end
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

async function hammer(port: number, path: string, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += 50) {
    await Promise.all(Array.from({ length: 50 }, () => upgradeAndHangUp(port, path)));
  }
}

function echoOnce(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => ws.send('hi'));
    ws.once('message', (data) => {
      resolve(data.toString());
      ws.close();
    });
    ws.once('error', reject);
  });
}

/** The status line of an upgrade to `path` that the client keeps open. */
function statusOfHeldUpgrade(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    });
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('error', () => {});
    socket.once('close', () => resolve(text.split('\r\n')[0] ?? ''));
  });
}

describe('an upgrade to a path nobody serves', () => {
  for (const appWs of [false, true]) {
    it(`holds no socket after 1,000 of them, closed by the client, under a ${FILE_LIMIT}-file limit${appWs ? ', with an upgrade handler of the app on another path' : ''}`, async () => {
      const { child, port } = await startChild(appWs);
      const pid = child.pid!;
      await upgradeAndHangUp(port, '/x'); // anything opened lazily is open now
      const before = openFiles(pid);
      await hammer(port, '/x', 500);
      await hammer(port, '/ws/', 250); // a hub path with a slash too many is another path
      await hammer(port, '/wsx', 250);
      await waitFor(
        'the open files to return to where they were',
        () => openFiles(pid) <= before,
        10_000,
      );
      expect(await unclaimedCount(child)).toBe(1001);
      // The server still takes connections: the hub's, and the app's own.
      const hub = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      await new Promise((resolve, reject) => hub.once('open', resolve).once('error', reject));
      hub.close();
      if (appWs) expect(await echoOnce(`ws://127.0.0.1:${port}/app-ws`)).toBe('echo hi');
    }, 60_000);
  }

  it('is answered 404 at once when the app has no upgrade handler of its own', async () => {
    const hub = createHub({ authenticate: false, redis: false, logger: false });
    const server = createServer();
    hub.attach(server, { path: '/ws' });
    await listen(server);
    expect(await statusOfHeldUpgrade(port(server), '/elsewhere')).toBe('HTTP/1.1 404 Not Found');
    expect(hub.stats().upgradesUnclaimed).toBe(1);
  });

  it('is answered 404 after the bound when the app has a handler that does not take it', async () => {
    const hub = createHub({ authenticate: false, redis: false, logger: false });
    const server = createServer();
    server.on('upgrade', () => {}); // the app's, for some other path
    hub.attach(server, { path: '/ws', unclaimedTimeoutMs: 200 });
    await listen(server);
    expect(await statusOfHeldUpgrade(port(server), '/elsewhere')).toBe('HTTP/1.1 404 Not Found');
    expect(hub.stats().upgradesUnclaimed).toBe(1);
  });

  it("leaves an upgrade alone that the app's own handler takes after an await", async () => {
    const hub = createHub({ authenticate: false, redis: false, logger: false });
    const server = createServer();
    const appWss = new WebSocketServer({ noServer: true });
    afterThisTest(() => appWss.close());
    appWss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
    server.on('upgrade', async (req, socket, head) => {
      if (req.url !== '/app-ws') return;
      await new Promise((resolve) => setTimeout(resolve, 300)); // its own authentication
      appWss.handleUpgrade(req, socket, head, (ws) => appWss.emit('connection', ws, req));
    });
    hub.attach(server, { path: '/ws', unclaimedTimeoutMs: 2000 });
    await listen(server);
    expect(await echoOnce(`ws://127.0.0.1:${port(server)}/app-ws`)).toBe('echo hi');
    expect(hub.stats().upgradesUnclaimed).toBe(0);
  });

  it('serves two hubs on two paths of one server, and answers the rest', async () => {
    const a = createHub({ authenticate: false, redis: false, logger: false });
    const b = createHub({ authenticate: false, redis: false, logger: false });
    const server = createServer();
    a.attach(server, { path: '/a' });
    b.attach(server, { path: '/b' });
    expect(() => b.attach(server, { path: '/a' })).toThrow(/already serves/);
    await listen(server);
    const base = `ws://127.0.0.1:${port(server)}`;
    await connectClient(`${base}/a`);
    await connectClient(`${base}/b`);
    expect(await statusOfHeldUpgrade(port(server), '/c')).toBe('HTTP/1.1 404 Not Found');
    await a.close();
    await b.close();
    // With no hub left, the server is as it was: no 'upgrade' listener of ours.
    expect(server.listenerCount('upgrade')).toBe(0);
  });
});

async function listen(server: ReturnType<typeof createServer>): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

function port(server: ReturnType<typeof createServer>): number {
  return (server.address() as AddressInfo).port;
}
