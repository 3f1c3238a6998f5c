// The peer of bench/realtime-cluster/run.mjs: socket.io with @socket.io/redis-adapter's
// sharded adapter (`createShardedAdapter`, SSUBSCRIBE/SPUBLISH, one channel per room) on a
// Redis Cluster. Written like the peers' own servers/sio-hub.mjs (same events, same server
// options) so only the adapter differs; socket.io, the adapter and ioredis are loaded from the
// peers' folder (BENCH_PEERS_DIR), not from this repository.
//
//   node bench/realtime-cluster/sio-sharded-hub.mjs --port 7700 \
//     --cluster 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 --peers ../shared/bench-peers
//
// Events: a client emits 'join'(room, ack) and 'publish'(room, data); the server does
// io.to(room).emit('msg', data). The adapter's clients are ioredis Clusters: the subscriber
// with `shardedSubscribers: true` (ioredis routes SSUBSCRIBE to the slot's master only then,
// and re-emits each node's `smessageBuffer` on the Cluster, which is what the adapter listens
// to), the publisher an ordinary one. (The adapter's README says ioredis and a cluster do not
// go together for the sharded adapter; that predates `shardedSubscribers`, and the run counts
// every delivery on every server, so a loss would show.)
// IPC (when forked): sends {ready, port, pid} once listening and connected;
// {cmd:'stats'} -> {stats}. Exits on SIGTERM, when its parent goes away, or after --max-life s.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '7700' },
    host: { type: 'string', default: '127.0.0.1' },
    cluster: { type: 'string' },
    peers: { type: 'string' },
    'max-life': { type: 'string', default: '900' },
  },
});
if (!args.cluster || !args.peers) {
  console.error('usage: sio-sharded-hub.mjs --cluster h:p,h:p,... --peers <peers folder>');
  process.exit(2);
}
setTimeout(() => process.exit(3), Number(args['max-life']) * 1000).unref();

const fromPeers = createRequire(join(resolve(args.peers), 'package.json'));
const { Server } = fromPeers('socket.io');
const { createShardedAdapter } = fromPeers('@socket.io/redis-adapter');
const { Cluster } = fromPeers('ioredis');

const seeds = args.cluster.split(',').map((hostPort) => {
  const [host, port] = hostPort.split(':');
  return { host, port: Number(port) };
});
const errors = [];
const keep = (e) => {
  if (errors.length < 20) errors.push(String(e?.message ?? e));
};
const pubClient = new Cluster(seeds);
const subClient = new Cluster(seeds, { shardedSubscribers: true });
pubClient.on('error', keep);
subClient.on('error', keep);
await Promise.all(
  [pubClient, subClient].map(
    (c) =>
      new Promise((ok, fail) => {
        c.once('ready', ok);
        setTimeout(() => fail(new Error('Redis Cluster not ready within 10 s')), 10_000).unref();
      }),
  ),
);

const httpServer = createServer();
const io = new Server(httpServer, {
  serveClient: false,
  adapter: createShardedAdapter(pubClient, subClient),
});
let published = 0;
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(String(room));
    if (typeof ack === 'function') ack(true);
  });
  socket.on('publish', (room, data) => {
    published++;
    io.to(String(room)).emit('msg', data);
  });
});

const port = Number(args.port);
httpServer.listen({ port, host: args.host, backlog: 4096 }, () => {
  const info = { ready: true, kind: 'sio-sharded', port, pid: process.pid };
  if (process.send) process.send(info);
  else console.log(JSON.stringify(info));
});

process.on('message', (m) => {
  if (m?.cmd === 'stats') {
    const mu = process.memoryUsage();
    process.send({
      stats: {
        conns: io.engine.clientsCount,
        published,
        errors,
        rss: mu.rss,
        heapUsed: mu.heapUsed,
      },
    });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
