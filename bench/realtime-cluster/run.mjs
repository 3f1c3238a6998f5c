// @bancada/realtime on a 3-master Redis Cluster, side by side in one run with the same hub on
// one Redis and with socket.io: its sharded adapter (`createShardedAdapter`) on the same
// cluster and its ordinary adapter on one Redis. Each measurement: two server processes,
// `rooms` rooms with one client of each room on each server, a publisher spreading `rate`
// events/s over the rooms through server A. Reports the servers' CPU per delivery, each
// master's CPU (INFO cpu, before and after), how evenly the rooms and that CPU spread over the
// masters, and the ratios. Every delivery is counted per server: a run in which a
// server missed an event (or got one twice) is marked and left out of the ratios.
//
//   npm run bench -- realtime-cluster                       # about a minute
//   node bench/realtime-cluster/run.mjs --rooms=1000 --rate=1000 --duration=10
//   --no-sio   only our hub (no socket.io peers needed)
// Env: BENCH_PEERS_DIR (default <repo>/../shared/bench-peers): socket.io, its Redis adapter
// and ioredis come from there, as in bench/realtime/run.mjs.
//
// It starts its own redis-servers (one alone, three as a cluster) on free ports in a
// temporary folder and its own server processes, and stops all it started. Results:
// bench/realtime-cluster/results/realtime-cluster-<stamp>.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ours, socketIo } from './contenders.mjs';
import {
  cpuOf,
  machineBusy,
  redisCpu,
  sleep,
  startCluster,
  startRedis,
  stopRedis,
  until,
} from './redis-servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

function option(args, name, dflt) {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? dflt : Number(hit.slice(name.length + 3));
}

/** Opens `count` clients, `batch` at a time. */
async function openAll(count, open, batch = 50) {
  const closers = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    closers.push(...(await Promise.all(Array.from({ length: n }, (_, j) => open(i + j)))));
  }
  return closers;
}

/** One measured run: two servers of `hub` on `target`, a client of every room on each. */
async function measure(label, hub, target, { rooms, rate, duration }) {
  console.log(`[realtime-cluster] ${label}`);
  const servers = [await hub.start(target, 'a'), await hub.start(target, 'b')];
  const received = servers.map(() => 0);
  let closers = [];
  try {
    closers = await openAll(rooms * servers.length, (i) => {
      const s = i % servers.length;
      return hub.client(servers[s].port, `room-${Math.floor(i / servers.length)}`, () => {
        received[s]++;
      });
    });
    await until('every room subscribed', () => hub.subscribed(target, servers, rooms));
    const publisher = await hub.publisher(servers[0].port);
    closers.push(publisher.close);
    const payload = { text: 'x'.repeat(150) };
    const cpuNow = async () => ({
      t: Date.now(),
      busy: machineBusy(),
      self: cpuOf(process.pid),
      servers: servers.map((s) => cpuOf(s.child.pid)),
      masters: await Promise.all(target.masters.map((m) => redisCpu(m.client))),
    });
    const before = await cpuNow();
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < duration * 1000) {
      const due = Math.floor(((Date.now() - started) * rate) / 1000);
      for (; sent < due; sent++) publisher.send(`room-${sent % rooms}`, payload);
      await sleep(5);
    }
    await until('every event delivered', async () => received.every((n) => n >= sent), 10_000)
      // a miss is reported below, not thrown: the table says which server fell short
      .catch(() => {});
    const after = await cpuNow();
    await sleep(200); // anything arriving twice arrives now
    const deliveries = received.reduce((a, b) => a + b, 0);
    const serversCpuS = after.servers.reduce((s, c, i) => s + c - before.servers[i], 0);
    const masterCpuS = after.masters.map((c, i) => c - before.masters[i]);
    // What other programs on the machine took meanwhile: busy time less ours (this process
    // with its clients, the servers, the Redis servers).
    const ownS = after.self - before.self + serversCpuS + masterCpuS.reduce((a, b) => a + b, 0);
    const otherCores = (after.busy - before.busy - ownS) / ((after.t - before.t) / 1000);
    return {
      label,
      sent,
      received: [...received],
      complete: received.every((n) => n === sent),
      serversCpuS,
      perServerCpuS: after.servers.map((c, i) => c - before.servers[i]),
      cpuPerDeliveryUs: (serversCpuS / deliveries) * 1e6,
      masterCpuS,
      otherCores: Math.max(0, otherCores),
    };
  } finally {
    for (const close of closers) close();
    for (const s of servers) s.child.kill('SIGTERM');
    await sleep(300);
  }
}

/** How far from even: the largest share's distance from 1/n, in percent of 1/n. */
function unevenness(counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  const even = total / counts.length;
  return (Math.max(...counts.map((c) => Math.abs(c - even))) / even) * 100;
}

function roomsPerMaster(cluster, hub, rooms) {
  const per = new Map(cluster.nodes.map((n) => [n.port, 0]));
  for (let r = 0; r < rooms; r++) {
    const port = cluster.ownerOf(hub.channelOf(`room-${r}`));
    per.set(port, per.get(port) + 1);
  }
  return [...per.values()];
}

/** `a / b` of CPU per delivery with its goal, or why there is none. */
function ratio(name, a, b, goal) {
  if (!a || !b) return undefined;
  if (!a.complete || !b.complete) return `${name}: not given (a run missed events).`;
  const x = a.cpuPerDeliveryUs / b.cpuPerDeliveryUs;
  if (goal === undefined) return `${name}: ${x.toFixed(2)}x.`;
  return `${name}: ${x.toFixed(2)}x (goal ≤ ${goal}x: ${x <= goal ? 'met' : 'missed'}).`;
}

function peersDirOrThrow() {
  const dir = resolve(process.env.BENCH_PEERS_DIR ?? join(repoRoot, '..', 'shared', 'bench-peers'));
  for (const name of ['socket.io', 'socket.io-client', '@socket.io/redis-adapter', 'ioredis']) {
    if (!existsSync(join(dir, 'node_modules', name))) {
      throw new Error(
        `${name} not installed in ${dir} (npm ci there, set BENCH_PEERS_DIR, or --no-sio)`,
      );
    }
  }
  return dir;
}

export async function run(args = process.argv.slice(2)) {
  const settings = {
    rooms: option(args, 'rooms', 1000),
    rate: option(args, 'rate', 1000),
    duration: option(args, 'duration', 10),
  };
  const sio = args.includes('--no-sio') ? undefined : socketIo(peersDirOrThrow());
  const root = mkdtempSync(join(tmpdir(), 'bancada-bench-cluster-'));
  const started = [];
  try {
    const single = await startRedis(root);
    started.push(single);
    const cluster = await startCluster(root);
    started.push(...cluster.nodes);
    const one = { kind: 'single', url: `redis://127.0.0.1:${single.port}`, masters: [single] };
    const many = {
      kind: 'cluster',
      seeds: cluster.seeds,
      ownerOf: cluster.ownerOf,
      masters: cluster.nodes,
    };

    console.log(
      `realtime-cluster: ${settings.rooms} rooms, ${settings.rate} events/s for ${settings.duration} s, 2 servers each`,
    );
    const oursOne = await measure('ours, one Redis', ours, one, settings);
    const oursCluster = await measure('ours, cluster (3 masters)', ours, many, settings);
    const sioCluster = sio
      ? await measure('socket.io sharded adapter, cluster', sio, many, settings)
      : undefined;
    const sioOne = sio
      ? await measure('socket.io ordinary adapter, one Redis', sio, one, settings)
      : undefined;
    const results = [oursOne, oursCluster, sioCluster, sioOne].filter(Boolean);

    const spread = (hub, r) => {
      const rooms = roomsPerMaster(cluster, hub, settings.rooms);
      return `${hub.name}: rooms per master ${rooms.join(' / ')} (${unevenness(rooms).toFixed(1)} % from even), masters' CPU ${r.masterCpuS.map((c) => c.toFixed(2)).join(' / ')} s (${unevenness(r.masterCpuS).toFixed(1)} % from even; goal ±25 %: ${unevenness(r.masterCpuS) <= 25 ? 'met' : 'missed'}).`;
    };
    const lines = [
      `# @bancada/realtime on a Redis Cluster, beside socket.io (${new Date().toISOString()})`,
      '',
      `${settings.rooms} rooms, one client of each room on each of 2 server processes, ${settings.rate} events/s published through server A for ${settings.duration} s (~200-byte payloads); 3-master cluster without replicas; 2 CPU cores shared with other work.`,
      '',
      '| hub, Redis | events | received per server (each should be = events) | servers CPU s (A publishing + B) | server CPU per delivery | Redis CPU s (per master) | other programs |',
      '|---|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.label} | ${r.sent} | ${r.received.join(' / ')}${r.complete ? '' : ' **missed or doubled**'} | ${r.serversCpuS.toFixed(2)} (${r.perServerCpuS.map((c) => c.toFixed(2)).join(' + ')}) | ${r.cpuPerDeliveryUs.toFixed(1)} µs | ${r.masterCpuS.map((c) => c.toFixed(2)).join(' / ')} | ${Math.round(r.otherCores * 100)} % of a core |`,
      ),
      '',
      ratio('Ours on the cluster / ours on one Redis', oursCluster, oursOne, 1.1),
      ratio('Ours on the cluster / socket.io sharded on the cluster', oursCluster, sioCluster, 0.7),
      ratio('socket.io sharded on the cluster / socket.io on one Redis', sioCluster, sioOne),
      spread(ours, oursCluster),
      sioCluster && spread(sio, sioCluster),
    ].filter((l) => l !== undefined);
    console.log(lines.join('\n'));
    mkdirSync(join(here, 'results'), { recursive: true });
    const file = join(
      here,
      'results',
      `realtime-cluster-${new Date().toISOString().replace(/[:.]/g, '-')}.md`,
    );
    writeFileSync(file, `${lines.join('\n')}\n`);
    console.log(`written: ${file}`);
  } finally {
    for (const s of started) stopRedis(s);
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
