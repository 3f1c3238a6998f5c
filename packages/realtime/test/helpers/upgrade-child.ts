// Run as a child process by unclaimed-upgrades.test.ts (bundled first), under a low file
// limit: a hub on /ws, and with UPGRADE_CHILD_APP_WS=1 the app's own WebSocket server on
// /app-ws as well, which leaves every other path alone. Prints its port once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createHub } from '../../src/index.js';

const hub = createHub({ authenticate: false, redis: false, logger: false });
const server = createServer((_req, res) => res.writeHead(404).end());
hub.attach(server, { path: '/ws' });
if (process.env.UPGRADE_CHILD_APP_WS === '1') {
  const appWss = new WebSocketServer({ noServer: true });
  appWss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
  server.on('upgrade', (req, socket, head) => {
    if (req.url !== '/app-ws') return; // not the app's: someone else's business
    appWss.handleUpgrade(req, socket, head, (ws) => appWss.emit('connection', ws, req));
  });
}
// Lets the test read the hub's count of the upgrades it answered.
process.on('message', () => process.send?.(hub.stats().upgradesUnclaimed));
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
