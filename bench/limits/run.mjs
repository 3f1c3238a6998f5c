// @bancada/limits: acquire+release per second (memory and Redis), and what a limiter adds
// to a WebSocket handshake, measured against no limiter in the same run, interleaved.
//   npm run bench -- limits           (REDIS_URL, default redis://127.0.0.1:6379)
//   npm run bench -- limits --quick
import { createServer } from 'node:http';
import { connectionLimit, upgradeWithLimit } from '@bancada/limits';
import { WebSocket, WebSocketServer } from 'ws';
import { concurrentThroughput, fmt, interleavedLatency } from '../lib/measure.mjs';

export async function run(args) {
  const quick = args.includes('--quick');
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const sizes = quick
    ? { ops: 5_000, handshakes: 300, rounds: 2 }
    : { ops: 50_000, handshakes: 3_000, rounds: 5 };
  const prefix = `bench:limits:${process.pid}:`;
  const memory = connectionLimit({
    redis: false,
    logger: false,
    maxPerIp: 1_000_000,
    maxTotal: 1_000_000,
  });
  const shared = connectionLimit({
    redis: url,
    prefix,
    logger: false,
    maxPerIp: 1_000_000,
    maxTotal: 1_000_000,
  });
  // Many client addresses, as real traffic has.
  const requests = Array.from({ length: 1000 }, (_, i) => ({
    headers: {},
    socket: { remoteAddress: `10.${(i >> 8) & 255}.${i & 255}.1` },
  }));
  const reqAt = (i) => requests[i % requests.length];
  const cycle = (gate) => async (req) => {
    const lease = await gate.acquire(req);
    lease.release();
  };
  await cycle(shared)(reqAt(0)); // connect

  const rows = [];
  const impls = [
    { name: 'memory', op: cycle(memory) },
    { name: 'redis', op: cycle(shared) },
  ];
  const one = await interleavedLatency(impls, { ops: sizes.ops / 10, keyAt: reqAt });
  const many = await concurrentThroughput(impls, {
    ops: sizes.ops,
    concurrency: 50,
    rounds: sizes.rounds,
    keyAt: reqAt,
  });
  for (const impl of impls) {
    rows.push(
      `| acquire+release, ${impl.name} | ${fmt(one[impl.name].p50)} | ${fmt(one[impl.name].p99)} | ${fmt(one[impl.name].opsPerSec)} | ${fmt(many[impl.name])} |`,
    );
  }

  // WebSocket handshakes through three doors of one server: none, memory, redis.
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  const gates = { '/memory': memory, '/redis': shared };
  server.on('upgrade', (req, socket, head) => {
    const gate = gates[req.url];
    if (gate === undefined) return wss.handleUpgrade(req, socket, head, (ws) => ws.close());
    void upgradeWithLimit(gate, wss, req, socket, head).then((ws) => ws?.close());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `ws://127.0.0.1:${server.address().port}`;
  const handshake = (path) => () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(base + path);
      ws.once('open', () => {
        resolve();
        ws.terminate();
      });
      ws.once('error', reject);
    });
  const doors = [
    { name: 'no limiter', op: handshake('/none') },
    { name: 'memory limiter', op: handshake('/memory') },
    { name: 'redis limiter', op: handshake('/redis') },
  ];
  await interleavedLatency(doors, { ops: 100, keyAt: () => undefined });
  const hs = await interleavedLatency(doors, { ops: sizes.handshakes, keyAt: () => undefined });

  const lines = [
    `Limits benchmark, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}${quick ? ' (quick run)' : ''}`,
    '',
    '| operation | p50 µs | p99 µs | ops/s, 1 caller | ops/s, 50 callers |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    '| WebSocket handshake (open, loopback) | p50 µs | p99 µs | added p50 µs | added p99 µs |',
    '|---|---:|---:|---:|---:|',
    ...doors.map(({ name }) => {
      const r = hs[name];
      const none = hs['no limiter'];
      return `| ${name} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.p50 - none.p50)} | ${fmt(r.p99 - none.p99)} |`;
    }),
  ];
  console.log(lines.join('\n'));

  for (const client of wss.clients) client.terminate();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await memory.close();
  await shared.close();
}
