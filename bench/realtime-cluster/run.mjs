// @bancada/realtime on a 3-master Redis Cluster against the same hub on one Redis: two hub
// processes (bench/realtime/hub-server.mjs), `rooms` rooms with one WebSocket client on each
// hub, a publisher spreading `rate` events/s over the rooms through hub A. Reports the hubs'
// CPU per delivery, each master's CPU (INFO cpu, before and after) and how evenly the rooms
// and that CPU spread over the masters.
//
//   npm run bench -- realtime-cluster                       # about 40 s
//   node bench/realtime-cluster/run.mjs --rooms=1000 --rate=1000 --duration=10
//
// It starts its own redis-servers (one alone, three as a cluster) on free ports in a
// temporary folder and its own hub processes, and stops all it started. Results:
// bench/realtime-cluster/results/<stamp>.md.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const hubServer = join(here, '..', 'realtime', 'hub-server.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function option(args, name, dflt) {
  const hit = args.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? dflt : Number(hit.slice(name.length + 3));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A redis-server of ours, in its own folder; `extra` for cluster mode. */
async function startRedis(root, extra = []) {
  const port = await freePort();
  const dir = join(root, String(port));
  mkdirSync(dir);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    ...extra,
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  client.on('error', () => {});
  await until(`redis-server on ${port}`, async () => (await client.ping()) === 'PONG', 10_000);
  return { port, child, client };
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuOf(pid) {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A Redis server's own CPU seconds (INFO cpu). */
async function redisCpu(client) {
  const info = await client.info('cpu');
  const num = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return num('used_cpu_sys') + num('used_cpu_user');
}

async function startHub(redisUrl, id) {
  const port = await freePort();
  const child = fork(hubServer, ['--port', String(port), '--redis', redisUrl, '--id', id], {
    stdio: 'ignore',
  });
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error(`hub ${id} not ready`))));
    child.once('exit', (code) => reject(new Error(`hub ${id} exited (${code})`)));
  });
  return { port, child };
}

function statsOf(hub) {
  return new Promise((resolve) => {
    hub.child.once('message', (m) => resolve(m.stats));
    hub.child.send({ cmd: 'stats' });
  });
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** One measured run: two hubs on `redisUrl`, a client of every room on each. */
async function measure(label, redisUrl, masters, { rooms, rate, duration }) {
  const hubs = [await startHub(redisUrl, `${label}-a`), await startHub(redisUrl, `${label}-b`)];
  const clients = [];
  let received = 0;
  try {
    for (let r = 0; r < rooms; r++) {
      for (const hub of hubs) {
        const ws = await open(`ws://127.0.0.1:${hub.port}/ws`);
        ws.on('message', (data) => {
          if (data.toString().includes('"type":"event"')) received++;
        });
        ws.send(JSON.stringify({ type: 'subscribe', room: `room-${r}` }));
        clients.push(ws);
      }
    }
    await until('every room joined', async () => {
      const stats = await Promise.all(hubs.map(statsOf));
      return stats.every((s) => s.hub.rooms === rooms);
    });
    const publisher = await open(`ws://127.0.0.1:${hubs[0].port}/pub`);
    const payload = { text: 'x'.repeat(150) };
    const before = {
      hubs: hubs.map((h) => cpuOf(h.child.pid)),
      delivered: (await Promise.all(hubs.map(statsOf))).map((s) => s.hub.delivered),
      masters: await Promise.all(masters.map((m) => redisCpu(m.client))),
    };
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < duration * 1000) {
      const due = Math.floor(((Date.now() - started) * rate) / 1000);
      for (; sent < due; sent++) {
        publisher.send(
          JSON.stringify({ type: 'publish', room: `room-${sent % rooms}`, data: payload }),
        );
      }
      await sleep(5);
    }
    await until('every event delivered', async () => received >= sent * 2, 10_000).catch(() => {});
    const after = {
      hubs: hubs.map((h) => cpuOf(h.child.pid)),
      delivered: (await Promise.all(hubs.map(statsOf))).map((s) => s.hub.delivered),
      masters: await Promise.all(masters.map((m) => redisCpu(m.client))),
    };
    publisher.terminate();
    const delivered = after.delivered.reduce((s, d, i) => s + d - before.delivered[i], 0);
    const hubCpu = after.hubs.reduce((s, c, i) => s + c - before.hubs[i], 0);
    return {
      label,
      sent,
      expected: sent * 2,
      received,
      delivered,
      hubCpuS: hubCpu,
      cpuPerDeliveryUs: (hubCpu / delivered) * 1e6,
      masterCpuS: after.masters.map((c, i) => c - before.masters[i]),
    };
  } finally {
    for (const ws of clients) ws.terminate();
    for (const hub of hubs) hub.child.kill('SIGTERM');
    await sleep(300);
  }
}

/** How far from even: the largest share's distance from 1/n, in percent of 1/n. */
function unevenness(counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  const even = total / counts.length;
  return (Math.max(...counts.map((c) => Math.abs(c - even))) / even) * 100;
}

export async function run(args = process.argv.slice(2)) {
  const settings = {
    rooms: option(args, 'rooms', 1000),
    rate: option(args, 'rate', 1000),
    duration: option(args, 'duration', 10),
  };
  const root = mkdtempSync(join(tmpdir(), 'bancada-bench-cluster-'));
  const servers = [];
  try {
    const single = await startRedis(root);
    servers.push(single);
    const nodes = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedis(root, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']),
      );
    }
    servers.push(...nodes);
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await until('the cluster to serve every slot', async () => {
      for (const n of nodes)
        if (!(await n.client.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
      return true;
    });
    const clusterUrl = `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;

    console.log(
      `realtime-cluster: ${settings.rooms} rooms, ${settings.rate} events/s for ${settings.duration} s, 2 hubs`,
    );
    const results = [
      await measure('one Redis', `redis://127.0.0.1:${single.port}`, [single], settings),
      await measure('cluster, 3 masters', clusterUrl, nodes, settings),
    ];

    // Which master serves each room's channel.
    const slots = await nodes[0].client.call('CLUSTER', 'SLOTS');
    const ownerOf = (slot) => slots.find(([from, to]) => slot >= from && slot <= to)[2][1];
    const roomsPer = new Map(nodes.map((n) => [n.port, 0]));
    for (let r = 0; r < settings.rooms; r++) {
      const port = ownerOf(calculateSlot(`ws:room:{room-${r}}`));
      roomsPer.set(port, roomsPer.get(port) + 1);
    }
    const cluster = results[1];
    const lines = [
      `# @bancada/realtime on a Redis Cluster (${new Date().toISOString()})`,
      '',
      `${settings.rooms} rooms, one WebSocket client of each room on each of 2 hub processes, ${settings.rate} events/s published through hub A for ${settings.duration} s (~200-byte payloads); 2 CPU cores shared with other work.`,
      '',
      '| Redis | events | deliveries (expected) | hubs CPU s | hub CPU per delivery | Redis CPU s (per master) |',
      '|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.label} | ${r.sent} | ${r.received} (${r.expected}) | ${r.hubCpuS.toFixed(2)} | ${r.cpuPerDeliveryUs.toFixed(1)} µs | ${r.masterCpuS.map((c) => c.toFixed(2)).join(' / ')} |`,
      ),
      '',
      `Cluster against one Redis, hub CPU per delivery: ${(cluster.cpuPerDeliveryUs / results[0].cpuPerDeliveryUs).toFixed(2)}x.`,
      `Rooms per master: ${[...roomsPer.values()].join(' / ')} (${unevenness([...roomsPer.values()]).toFixed(1)} % from even); masters' CPU ${unevenness(cluster.masterCpuS).toFixed(1)} % from even.`,
    ];
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
    for (const s of servers) {
      s.client.disconnect();
      s.child.kill('SIGKILL');
    }
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
