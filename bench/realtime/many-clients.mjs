// A client process of the many-connections benchmark (bench/realtime/many.mjs starts a few):
// opens its share of idle connections from several loopback source addresses, then tells
// when each received a broadcast. Driven over IPC; exits when its parent goes away.
//
//   {cmd:'open', hub, wsUrl, sseUrl, ws, sse, sources, concurrency, room, harnessDir}
//     -> {opened, failed, firstError, ms, rss}
//   {cmd:'expect', seq}   forget earlier receipts, count those of broadcast `seq`
//   {cmd:'publish', seq}  (socket.io) emits the broadcast through one of its sockets -> {sent}
//   {cmd:'report'}        -> {report: {seq, got, times}}: receive times (µs, CLOCK_MONOTONIC)
//   {cmd:'closed'}        -> {closed}: how many of its connections dropped meanwhile
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { WebSocket } from 'ws';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
let expected = -1;
let times = [];
let dropped = 0;
const sockets = [];

function received(seq) {
  if (seq === expected) times.push(nowUs());
}

/** A cookie the size a session cookie has: what a browser would send with each connection. */
const cookie = (i) => `sid=s%3A${i.toString(36).padStart(32, 'x')}.signaturesignaturesignature`;

function openWs(url, localAddress, room, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      localAddress,
      perMessageDeflate: false,
      headers: { cookie: cookie(i) },
    });
    ws.on('error', (error) => reject(error));
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', room }));
      sockets.push(ws);
      resolve();
    });
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'event') received(m.payload?.bcast);
    });
    ws.once('close', () => dropped++);
  });
}

function openSse(url, localAddress, i) {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, headers: { cookie: cookie(i) } });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (text) => {
        for (const match of text.matchAll(/"bcast":(\d+)/g)) received(Number(match[1]));
      });
      res.once('close', () => dropped++);
      sockets.push(req);
      resolve();
    });
    req.end();
  });
}

function openSio(io, url, localAddress, room) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      localAddress,
    });
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.emit('join', room, () => {
        sockets.push(socket);
        resolve();
      });
    });
    socket.on('msg', (data) => received(data?.bcast));
    socket.once('disconnect', () => dropped++);
  });
}

async function open(m) {
  const t0 = Date.now();
  const io =
    m.hub === 'sio-redis'
      ? createRequire(join(m.harnessDir, 'package.json'))('socket.io-client').io
      : undefined;
  const jobs = [];
  for (let i = 0; i < m.ws; i++) {
    const from = m.sources[i % m.sources.length];
    jobs.push(() => (io ? openSio(io, m.wsUrl, from, m.room) : openWs(m.wsUrl, from, m.room, i)));
  }
  for (let i = 0; i < m.sse; i++) {
    jobs.push(() => openSse(m.sseUrl, m.sources[i % m.sources.length], m.ws + i));
  }
  let opened = 0;
  let failed = 0;
  let firstError;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await job();
        opened++;
      } catch (error) {
        failed++;
        firstError ??= String(error?.message ?? error);
      }
    }
  };
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  return { opened, failed, firstError, ms: Date.now() - t0, rss: process.memoryUsage().rss };
}

process.on('message', async (m) => {
  if (m?.cmd === 'open') process.send({ ...(await open(m)), cmd: 'opened' });
  else if (m?.cmd === 'expect') {
    expected = m.seq;
    times = [];
    process.send({ expecting: m.seq });
  } else if (m?.cmd === 'publish') {
    sockets[0].emit('publish', '*', { bcast: m.seq, ts: nowUs() });
    process.send({ sent: m.seq });
  } else if (m?.cmd === 'report') {
    process.send({ report: { seq: expected, got: times.length, times } });
  } else if (m?.cmd === 'closed') process.send({ closed: dropped });
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), 1800_000).unref();
