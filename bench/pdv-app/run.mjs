// The PDV app as deployed by `npm run cluster` (nginx + three instances on one Redis and one
// Postgres), under load: 1,000 kitchen screens on WebSocket through nginx, while autocannon
// creates orders through nginx for a fixed time. Measures orders/s and HTTP latency
// (autocannon's), and for every event on every screen the delivery latency (receive time − the
// event's `ts`, its publish time on the server) and whether each screen got each of its
// restaurant's orders exactly once.
//
//   npm run build                      # the instances run examples/pdv-app/dist/server.js
//   ulimit -n 4096                     # 1,000 screens + autocannon's sockets in this process tree
//   node bench/pdv-app/run.mjs         # about 40 s: 20 s of orders, as fast as they go
//   node bench/pdv-app/run.mjs --rate=50 --duration=10
//
// Options (--name=value): --screens=1000 --duration=20 (1-120 s) --connections=10 (autocannon's,
// each sends its next order when the last one is answered) --rate=0 (orders/s over all
// connections; 0 = no limit; autocannon sends each connection's share in a burst at the start
// of every second) --addresses=40 (client addresses the screens come from) --sessions=10
// (logins per restaurant).
//
// Needs nginx (apt-get install nginx), redis-server and a Postgres (DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432). It starts its own redis-server and creates its own
// database, talks only to 127.0.0.1, stops everything it started and drops the database, also
// when interrupted or past its time limit. Results: bench/pdv-app/results/pdv-app-<stamp>.json.
//
// Screens come from 127.0.<n>.1, n = 1..--addresses (all of 127.0.0.0/8 is this machine on
// Linux): like kitchens behind their restaurants' own routers, and the only way nginx's ip_hash,
// which keys on the first three octets, spreads them over the instances. It also keeps each
// address under the app's limit of 50 connections per client IP. autocannon cannot choose its
// source address, so every order comes from 127.0.0.1 and lands on one instance; the other two
// receive every event through Redis.
import { fork, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import {
  createPrivateDatabase,
  findNginx,
  freePort,
  getJson,
  startCluster,
  startPrivateRedis,
} from '../../examples/pdv-app/scripts/cluster.mjs';
import { fmt } from '../lib/measure.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const RESTAURANTS = [
  { id: 'sol', email: 'ana@sol.demo' },
  { id: 'lua', email: 'leo@lua.demo' },
];
const PASSWORD = 'demo-pdv';

function options(args) {
  const get = (name, fallback) => {
    const hit = args.find((a) => a.startsWith(`--${name}=`));
    return hit === undefined ? fallback : Number(hit.slice(name.length + 3));
  };
  const o = {
    screens: get('screens', 1000),
    duration: get('duration', 20),
    rate: get('rate', 0),
    connections: get('connections', 10),
    addresses: get('addresses', 40),
    sessions: get('sessions', 10),
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
  }
  if (o.duration < 1 || o.duration > 120) throw new Error('--duration must be 1 to 120 seconds');
  if (o.addresses < 1 || o.addresses > 254) throw new Error('--addresses must be 1 to 254');
  if (Math.ceil(o.screens / o.addresses) > 50) {
    throw new Error(
      'more than 50 screens per address: the app refuses the 51st (raise --addresses)',
    );
  }
  return o;
}

/** The shell's open-files limit, which this process and its children inherit. */
function checkOpenFiles(needed) {
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout);
  if (Number.isFinite(soft) && soft < needed) {
    throw new Error(
      `ulimit -n is ${soft}; this run needs about ${needed}: run ulimit -n 4096 first`,
    );
  }
}

// ---- the app, through nginx -----------------------------------------------------------------

async function login(url, email) {
  const response = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  // The session cookie and the balancer's pdv_restaurant, as a browser would send them back.
  const cookies = response.headers.getSetCookie().map((line) => line.split(';')[0]);
  if (response.status !== 200 || !cookies.some((c) => c.startsWith('sid='))) {
    throw new Error(`login as ${email}: ${response.status}`);
  }
  return cookies.join('; ');
}

/** `sessions` logins per restaurant (a login is a deliberate scrypt: kept few), and its menu. */
async function prepareRestaurants(url, sessions) {
  const prepared = {};
  for (const restaurant of RESTAURANTS) {
    const cookies = [];
    for (let i = 0; i < sessions; i++) cookies.push(await login(url, restaurant.email));
    const menu = await (await fetch(`${url}/api/menu`, { headers: { cookie: cookies[0] } })).json();
    prepared[restaurant.id] = { cookies, menu: menu.items };
  }
  return prepared;
}

/** One entry per screen: address 127.0.<n>.1, each address serving one restaurant. */
function screenPlan(o, url, restaurants) {
  return Array.from({ length: o.screens }, (_, i) => {
    const n = 1 + (i % o.addresses);
    const restaurant = RESTAURANTS[n % RESTAURANTS.length].id;
    const { cookies } = restaurants[restaurant];
    return {
      wsUrl: `${url.replace('http', 'ws')}/ws`,
      cookie: cookies[i % cookies.length],
      restaurant,
      address: `127.0.${n}.1`,
    };
  });
}

/** The POST /api/orders autocannon repeats, alternating the restaurants. */
function orderRequests(restaurants) {
  return RESTAURANTS.map(({ id }) => {
    const { cookies, menu } = restaurants[id];
    return {
      method: 'POST',
      path: '/api/orders',
      headers: { cookie: cookies[0], 'content-type': 'application/json' },
      body: JSON.stringify({
        table: '12',
        items: [
          { menuItemId: menu[0].id, qty: 2 },
          { menuItemId: menu[1].id, qty: 1 },
        ],
        note: 'load test',
      }),
    };
  });
}

/** Open WebSocket connections per instance, as each instance's /health counts them. */
async function screensPerInstance(cluster) {
  const counts = {};
  for (const { id } of cluster.instances) {
    const health = await getJson(`${cluster.url}/_cluster/${id}/health`);
    counts[id] = health?.body?.connections?.websocket;
  }
  return counts;
}

/** The orders in the database, by restaurant: what the screens should have received. */
async function createdOrders(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // autocannon stops with requests in flight: wait until no order is added for 500 ms.
    let rows = [];
    for (let i = 0; i < 20; i++) {
      const { rows: now } = await client.query('SELECT id, restaurant_id FROM orders ORDER BY id');
      if (i > 0 && now.length === rows.length) break;
      rows = now;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const byRestaurant = Object.fromEntries(RESTAURANTS.map(({ id }) => [id, []]));
    for (const row of rows) byRestaurant[row.restaurant_id]?.push(Number(row.id));
    return byRestaurant;
  } finally {
    await client.end();
  }
}

// ---- CPU: ours and everybody else's ----------------------------------------------------------
// This machine is shared: a run during someone else's build or browser test is slower for
// reasons of its own. Each result records how busy the machine was with other programs.

const TICKS_PER_S = 100; // USER_HZ

/** utime + stime of a process, in ticks; 0 once it is gone. */
function processTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** This process and all its descendants: the cluster, nginx, redis-server, the screens. */
function ownProcessTree() {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {}
  }
  const tree = [];
  const queue = [process.pid];
  while (queue.length > 0) {
    const pid = queue.pop();
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Postgres backends serving our database: their work is part of the load. */
async function postgresBackends(databaseUrl, name) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return rows.map((row) => row.pid);
  } finally {
    await client.end();
  }
}

/** Busy ticks of the whole machine (all cores) and of `pids`. */
function cpuSample(pids) {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  const own = pids.reduce((sum, pid) => sum + processTicks(pid), 0);
  return { at: Date.now(), busy: user + nice + system + irq + softirq + steal, own };
}

/** CPU used over a window, in cores: by this run's processes, and by everything else. */
function cpuUse(before, after) {
  const seconds = (after.at - before.at) / 1000;
  const own = (after.own - before.own) / TICKS_PER_S / seconds;
  const busy = (after.busy - before.busy) / TICKS_PER_S / seconds;
  return { cores: availableParallelism(), ownCores: own, otherCores: Math.max(0, busy - own) };
}

// ---- the screens process --------------------------------------------------------------------

function startScreens() {
  const child = fork(join(here, 'screens.mjs'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = (message, reply, timeoutMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', on);
        reject(new Error(`screens: no ${reply} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (m) => {
        if (m.cmd !== reply) return;
        clearTimeout(timer);
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
      child.send(message);
    });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    ask,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ cmd: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---- one run --------------------------------------------------------------------------------

/** What the run started, in the order it must stop. */
function createCleanup() {
  const steps = [];
  let done;
  return {
    add: (step) => steps.unshift(step),
    run() {
      done ??= (async () => {
        for (const step of steps)
          await step().catch((e) => console.error(`[pdv-app] ${e.message}`));
      })();
      return done;
    },
  };
}

/** Instance and nginx lines: warnings and errors shown, all kept for a failure message. */
function createLog() {
  const tail = [];
  return {
    tail,
    log(name, line) {
      tail.push(`[${name}] ${line}`);
      if (tail.length > 200) tail.shift();
      const level = /^\{"level":(\d+)/.exec(line)?.[1];
      if (name === 'nginx' || Number(level) >= 40) console.error(`[${name}] ${line}`);
    },
  };
}

async function loadOrders(url, o, restaurants, cleanup) {
  const instance = autocannon({
    url,
    connections: o.connections,
    duration: o.duration,
    // autocannon's limiter sends each connection's share at the start of every second, and its
    // coordinated-omission correction then assumes 1 ms between requests (it passes
    // ceil(1 / rate) as the interval), adding made-up samples: report raw latencies instead.
    ...(o.rate > 0 ? { overallRate: o.rate, ignoreCoordinatedOmission: true } : {}),
    requests: orderRequests(restaurants),
  });
  // Interrupted: no more orders while the cluster shuts down.
  cleanup.add(async () => instance.stop());
  return await instance;
}

export async function run(args = []) {
  const o = options(args);
  checkOpenFiles(o.screens + o.connections + 500);
  findNginx({ install: true });
  const cleanup = createCleanup();
  const { log, tail } = createLog();
  const stopOnSignal = async (signal) => {
    console.error(`[pdv-app] ${signal}: stopping everything`);
    await cleanup.run();
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  // Bounded: whatever hangs, the run ends and cleans up.
  const limitS = o.duration + 180;
  const limit = setTimeout(() => {
    console.error(`[pdv-app] over ${limitS} s: stopping everything`);
    void cleanup.run().then(() => process.exit(1));
  }, limitS * 1000);
  limit.unref();

  try {
    const redis = await startPrivateRedis({ log });
    cleanup.add(() => redis.stop());
    const database = await createPrivateDatabase({ prefix: 'bench_pdv' });
    cleanup.add(() => database.drop());
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const cluster = await startCluster({
      port: ports[0],
      instancePorts: ports.slice(1),
      redisUrl: redis.url,
      databaseUrl: database.url,
      log,
    });
    cleanup.add(() => cluster.stop());
    console.log(
      `[pdv-app] cluster up: ${cluster.url} -> ${cluster.instances.map((i) => i.id).join(', ')}`,
    );

    const restaurants = await prepareRestaurants(cluster.url, o.sessions);
    const screens = startScreens();
    cleanup.add(() => screens.stop());
    const started = Date.now();
    const opened = await screens.ask(
      { cmd: 'open', plan: screenPlan(o, cluster.url, restaurants), concurrency: 50 },
      'opened',
      120_000,
    );
    const openS = (Date.now() - started) / 1000;
    console.log(`[pdv-app] ${opened.opened}/${o.screens} screens joined in ${fmt(openS)} s`);
    if (Object.keys(opened.failures).length > 0) {
      console.log(`[pdv-app] refused: ${JSON.stringify(opened.failures)}`);
    }
    const perInstance = await screensPerInstance(cluster);
    const ordersTo = (await getJson(`${cluster.url}/health`))?.body?.instance;

    console.log(
      `[pdv-app] orders for ${o.duration} s at ${o.rate > 0 ? `${o.rate}/s` : 'full speed'}`,
    );
    const measured = [
      ...ownProcessTree(),
      ...(await postgresBackends(database.url, database.name)),
    ];
    const cpuBefore = cpuSample(measured);
    const http = await loadOrders(cluster.url, o, restaurants, cleanup);
    const cpu = cpuUse(cpuBefore, cpuSample(measured));
    const expected = await createdOrders(database.url);
    const delivery = (
      await screens.ask({ cmd: 'finish', expected, drainMs: 10_000 }, 'report', 60_000)
    ).report;
    const result = {
      time: new Date().toISOString(),
      options: o,
      machine: { cores: availableParallelism(), node: process.version },
      screens: { joined: opened.opened, refused: opened.failures, openSeconds: openS, perInstance },
      ordersServedBy: ordersTo,
      cpu,
      http: summarizeHttp(http),
      ordersCreated: Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.length])),
      delivery,
    };
    writeResult(result);
    console.log(`\n${table(result)}\n`);
    return result;
  } catch (error) {
    console.error(
      `[pdv-app] failed: ${error.stack ?? error}\nlast lines:\n${tail.slice(-40).join('\n')}`,
    );
    throw error;
  } finally {
    clearTimeout(limit);
    await cleanup.run();
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
  }
}

// ---- reporting ------------------------------------------------------------------------------

function summarizeHttp(r) {
  return {
    durationS: r.duration,
    requests: r.requests.total,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    ordersPerSec: r['2xx'] / r.duration,
    requestsPerSecAverage: r.requests.average,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
  };
}

function writeResult(result) {
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = result.time.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const file = join(dir, `pdv-app-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`[pdv-app] results -> ${file}`);
}

function table(r) {
  const d = r.delivery;
  const per = Object.entries(r.screens.perInstance)
    .map(([id, n]) => `${id} ${n}`)
    .join(', ');
  const rows = [
    ['orders/s (2xx, autocannon)', fmt(r.http.ordersPerSec)],
    ['orders created (sol / lua)', `${r.ordersCreated.sol} / ${r.ordersCreated.lua}`],
    ['HTTP p50 / p99 ms', `${fmt(r.http.latencyMs.p50)} / ${fmt(r.http.latencyMs.p99)}`],
    [
      'HTTP non-2xx / errors / timeouts',
      `${r.http.non2xx} / ${r.http.errors} / ${r.http.timeouts}`,
    ],
    ['delivery p50 / p99 / max ms', `${d.latencyMs.p50} / ${d.latencyMs.p99} / ${d.latencyMs.max}`],
    [
      'delivered / expected',
      `${d.delivered.toLocaleString('en-US')} / ${d.expected.toLocaleString('en-US')}`,
    ],
    ["missed / duplicates / other restaurant's", `${d.missed} / ${d.duplicates} / ${d.leaked}`],
    ['gaps / screens closed', `${d.gaps} / ${JSON.stringify(d.closedDuringRun)}`],
    ['screens joined (per instance)', `${r.screens.joined} (${per})`],
    ['orders served by', r.ordersServedBy],
    [
      `CPU, cores of ${r.cpu.cores}: this run / other programs`,
      `${fmt(r.cpu.ownCores)} / ${fmt(r.cpu.otherCores)}`,
    ],
  ];
  return ['| figure | value |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join(
    '\n',
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
