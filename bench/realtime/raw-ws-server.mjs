// The floor for many.mjs: a bare `ws` server that keeps its sockets in a Set and broadcasts
// one prebuilt frame to all of them, with ws's own ping per socket as heartbeat. What a
// connection costs with nothing of a hub around it.
//   node bench/realtime/raw-ws-server.mjs --port 7700 [--heartbeat-ms 10000]
// IPC: {cmd:'gc'} -> {gcDone}; {cmd:'stats'} -> {stats: {heapUsed, rss}};
// {cmd:'publish', data} -> {published} (to every socket).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '7700' },
    'heartbeat-ms': { type: 'string', default: '10000' },
  },
});
const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  clientTracking: false,
});
const everyone = new Set();
const server = createServer();
server.on('upgrade', (req, socket, head) =>
  wss.handleUpgrade(req, socket, head, (ws) => {
    everyone.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => everyone.delete(ws));
  }),
);
setInterval(() => {
  for (const ws of everyone) ws.ping();
}, Number(args['heartbeat-ms'])).unref();
server.listen({ port: Number(args.port), host: '127.0.0.1', backlog: 4096 }, () =>
  process.send?.({ ready: true }),
);
process.on('message', (m) => {
  if (m?.cmd === 'gc') {
    globalThis.gc?.();
    process.send({ gcDone: true });
  } else if (m?.cmd === 'stats') {
    const { heapUsed, rss } = process.memoryUsage();
    process.send({ stats: { heapUsed, rss } });
  } else if (m?.cmd === 'publish') {
    const text = JSON.stringify({ type: 'event', payload: m.data });
    for (const ws of everyone) ws.send(text);
    process.send({ published: true });
  }
});
process.on('disconnect', () => process.exit(0));
