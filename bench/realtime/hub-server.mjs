// One @bancada/realtime hub instance for the fan-out benchmark (bench/realtime/run.mjs
// starts two of them on one Redis). Not part of the package: a bench fixture.
//
//   node bench/realtime/hub-server.mjs --port 7600 --redis redis://127.0.0.1:6391 [--id bench-1]
//
//   /ws    the hub itself (hub.attach): clients send {"type":"subscribe","room":"r1"} and get
//          {"type":"event","eventType":"msg",...,"payload":<data>,...}
//   /pub   the benchmark's publisher: a plain `ws` endpoint taking
//          {"type":"publish","room":"r1","data":{...}} and calling
//          hub.publish(room, { eventType: 'msg', payload: data }), so a publish goes the way an
//          application's does (local clients at once, the other instance through Redis), as
//          socket.io's publisher goes through a socket.io server.
//   GET /stats   hub.stats() plus memory, as JSON.
//   GET /events  hub.sse() (rooms from ?room=), with --sse.
// Options: --auth (an authenticate that admits everyone as one shared principal, instead of
// authenticate: false), --recheck (with --auth: the session re-check on, every 60 s, so each
// connection keeps what it needs of its request), --write-delay-ms.
// IPC (when forked): {cmd:'gc'} -> {gcDone:true}; {cmd:'stats'} -> {stats};
// {cmd:'publish', room, data} -> {published:true} (room '*': hub.broadcast); sends {ready} once
// listening and subscribed. Exits by itself after --max-life seconds (default 1800), when its
// parent goes away (IPC), or on SIGTERM/SIGINT (after hub.close(), at most 5 s).
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createHub } from '@bancada/realtime';
import { WebSocketServer } from 'ws';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '7600' },
    host: { type: 'string', default: '127.0.0.1' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6391' },
    id: { type: 'string' },
    'heartbeat-ms': { type: 'string', default: '30000' },
    'max-life': { type: 'string', default: '1800' },
    'write-delay-ms': { type: 'string', default: '0' },
    auth: { type: 'boolean', default: false },
    recheck: { type: 'boolean', default: false },
    sse: { type: 'boolean', default: false },
  },
});
const port = Number(args.port);
const maxLifeS = Number(args['max-life']);
setTimeout(() => process.exit(3), maxLifeS * 1000).unref();

// The hub logs only on trouble (and once at start); keep what it says for the stats.
const logged = [];
const keep = (level) => (message) => {
  if (logged.length < 50) logged.push(`${level}: ${message}`);
};
// One principal for everyone: what a connection costs, not what a user object costs.
const PRINCIPAL = Object.freeze({ id: 'bench' });
const hub = createHub({
  authenticate: args.auth ? async () => PRINCIPAL : false,
  reauthenticateMs: args.auth && args.recheck ? 60_000 : false,
  writeDelayMs: Number(args['write-delay-ms']),
  authorize: () => true,
  redis: args.redis,
  instanceId: args.id ?? `bench-${port}`,
  logger: { info() {}, warn: keep('warn'), error: keep('error') },
  heartbeatMs: Number(args['heartbeat-ms']),
  maxBufferedBytes: 16 * 1024 * 1024,
});

let publishes = 0;
let badPublishes = 0;
const sse = args.sse ? hub.sse() : undefined;
const server = createServer((req, res) => {
  if (sse && req.method === 'GET' && req.url?.startsWith('/events?')) {
    sse(req, res);
    return;
  }
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats()));
    return;
  }
  res.writeHead(404).end();
});
hub.attach(server, { path: '/ws' });

const publishers = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/pub') return; // /ws is the hub's; anything else is left alone
  publishers.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    ws.on('message', (raw) => {
      let m;
      try {
        m = JSON.parse(raw);
      } catch {
        badPublishes++;
        return;
      }
      if (m?.type !== 'publish') return;
      try {
        hub.publish(String(m.room), { eventType: 'msg', payload: m.data });
        publishes++;
      } catch {
        badPublishes++;
      }
    });
  });
});

function stats() {
  const mu = process.memoryUsage();
  return {
    pid: process.pid,
    port,
    hub: hub.stats(),
    publishes,
    badPublishes,
    logged,
    rss: mu.rss,
    heapUsed: mu.heapUsed,
    external: mu.external,
  };
}

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen({ port, host: args.host, backlog: 4096 }, resolve);
});
const ready = await hub.ready(5000);
const info = { ready, port, pid: process.pid };
if (process.send) process.send(info);
else console.log(JSON.stringify(info));
if (!ready) {
  console.error(`hub-server ${port}: Redis ${args.redis} not ready within 5 s`);
  process.exit(1);
}

process.on('message', (m) => {
  if (m?.cmd === 'gc') {
    globalThis.gc?.();
    process.send({ gcDone: true, gc: typeof globalThis.gc === 'function' });
  } else if (m?.cmd === 'stats') process.send({ stats: stats() });
  else if (m?.cmd === 'publish') {
    const event = { eventType: 'msg', payload: m.data };
    if (m.room === '*') hub.broadcast(event);
    else hub.publish(String(m.room), event);
    process.send({ published: true });
  }
});
process.on('disconnect', () => process.exit(0)); // parent gone

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 5000).unref();
  for (const ws of publishers.clients) ws.terminate();
  await hub.close().catch(() => {});
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
