// The persistence worker of @bancada/worker, end to end: N pre-built envelopes XADDed to a
// Redis Stream, timed until every one is committed to Postgres and acknowledged, with batches
// of 100 and 1,000 and with 1 and 2 workers, each worker a `bancada-worker` process (the
// package's bin, built). For scale, the same with a naive worker: one INSERT and one XACK per
// entry.
//
//   npm run build && npm run bench -- worker                       # about 2.5 minutes on 2 cores
//   npm run bench -- worker --quick                                # about 30 seconds
//   node bench/worker/run.mjs --n=100000 --rounds=3 --redis-port=6393
//
// It starts its own redis-server (--save "" --appendonly no) on --redis-port (default 6393; it
// refuses a port something already answers on) and stops only that one; it creates a fresh
// Postgres database on DATABASE_URL's server (default 127.0.0.1:5432, trust auth) and drops it.
// Every step has a time limit, and the whole run stops by itself.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, connect as netConnect } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fmt, median } from '../lib/measure.mjs';

/** The `bancada-worker` bin, as the package declares it. */
const CLI = (() => {
  const manifest = createRequire(import.meta.url).resolve('@bancada/worker/package.json');
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8'));
  return resolve(dirname(manifest), bin['bancada-worker']);
})();
const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let N;
let ROUNDS;
let NAIVE_N;
let REDIS_PORT;

/** Reads `--quick`, `--n=`, `--rounds=`, `--naive-n=` and `--redis-port=` from `args`. */
function configure(args) {
  const option = (name, dflt) => {
    const hit = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (hit === undefined) return dflt;
    return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : true;
  };
  const quick = option('quick', false) === true;
  N = Number(option('n', quick ? 20_000 : 100_000));
  ROUNDS = Number(option('rounds', quick ? 1 : 3));
  NAIVE_N = Number(option('naive-n', quick ? 5_000 : 20_000));
  REDIS_PORT = Number(option('redis-port', 6393));
}

const RUN_LIMIT_MS = 120_000;
const TOTAL_LIMIT_MS = 15 * 60_000;
const CONFIGS = [
  { batch: 100, workers: 1 },
  { batch: 1000, workers: 1 },
  { batch: 100, workers: 2 },
  { batch: 1000, workers: 2 },
];

/** Everything started here, stopped on the way out whatever happens. */
const children = new Set();
function stopAll() {
  for (const child of children) child.kill('SIGKILL');
}

function guard() {
  process.once('exit', stopAll);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      stopAll();
      process.exit(130);
    });
  }
  const watchdog = setTimeout(() => {
    console.error(`bench: over ${TOTAL_LIMIT_MS / 60_000} minutes, giving up`);
    stopAll();
    process.exit(1);
  }, TOTAL_LIMIT_MS);
  watchdog.unref();
}

function start(command, args, env = {}) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.stderrTail = () => stderr;
  return child;
}

async function stop(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function within(what, ms, promise) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(what, ms, condition, everyMs = 20) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

function portAnswers(port) {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startRedis() {
  if (await portAnswers(REDIS_PORT)) {
    throw new Error(`something already listens on ${REDIS_PORT}: pick another --redis-port`);
  }
  const args = [
    '--port',
    String(REDIS_PORT),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ];
  const child = start('redis-server', [...args, '--daemonize', 'no', '--dir', '/tmp']);
  await waitUntil('redis-server to answer', 10_000, () => portAnswers(REDIS_PORT), 50);
  return { url: `redis://127.0.0.1:${REDIS_PORT}`, child };
}

async function createDatabase() {
  const name = `bench_worker_${process.pid}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: SERVER_URL });
      await client.connect();
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      await client.query(`DROP DATABASE IF EXISTS ${name}`);
      await client.end();
    },
  };
}

/** What a hub publishes: ~300 bytes of JSON. */
function envelopes(tag, count) {
  const texts = new Array(count);
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    texts[i] = JSON.stringify({
      eventType: 'order-created',
      id: `${tag}-${i}`,
      traceId: `trace-${tag}-${i}`,
      payload: {
        orderId: i,
        table: (i % 40) + 1,
        items: [
          { sku: 'pastel-carne', qty: 2, price: 9.5 },
          { sku: 'caldo-de-cana', qty: 1, price: 7 },
        ],
        total: 26,
      },
      ts: now + i,
      room: `restaurant:${i % 50}`,
      seq: i + 1,
      origin: 'bench-hub-1',
    });
  }
  return texts;
}

/** XADDs the texts in pipelines of 1,000; returns the last entry id. */
async function addAll(redis, stream, texts) {
  let last;
  for (let i = 0; i < texts.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const text of texts.slice(i, i + 1000)) pipeline.xadd(stream, '*', 'e', text);
    const results = await pipeline.exec();
    last = results.at(-1)[1];
  }
  return last;
}

/** True once the group has been handed `lastId` and nothing is pending: all committed. */
async function allAcknowledged(redis, stream, group, lastId) {
  const groups = await redis.xinfo('GROUPS', stream);
  const info = groups.find((flat) => flat[flat.indexOf('name') + 1] === group);
  if (!info) return false;
  const delivered = info[info.indexOf('last-delivered-id') + 1];
  const pending = Number(info[info.indexOf('pending') + 1]);
  return delivered === lastId && pending === 0;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * One timed run: XADD `count` envelopes, wait until all are acknowledged, check the table
 * holds exactly them, then empty table and stream for the next run.
 */
async function timedRun({ redis, sql, stream, group, table, tag, count }) {
  const texts = envelopes(tag, count);
  const started = process.hrtime.bigint();
  const lastId = await addAll(redis, stream, texts);
  await waitUntil(
    'every entry acknowledged',
    RUN_LIMIT_MS,
    () => allAcknowledged(redis, stream, group, lastId),
    5,
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const { rows } = await sql.query(
    `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM ${table} WHERE id LIKE $1`,
    [`${tag}-%`],
  );
  if (rows[0].n !== count || rows[0].ids !== count) {
    throw new Error(`expected ${count} rows of ${tag}, found ${rows[0].n} (${rows[0].ids} ids)`);
  }
  await sql.query(`TRUNCATE ${table}`);
  await redis.xtrim(stream, 'MAXLEN', 0);
  return count / seconds;
}

/** Starts `workers` bancada-worker processes and waits until each is reading the group. */
async function startWorkers({ redisUrl, dbUrl, stream, group, table, batch, workers }) {
  const procs = [];
  const ports = [];
  for (let w = 0; w < workers; w++) {
    const port = await freePort();
    ports.push(port);
    procs.push(
      start(
        process.execPath,
        [
          CLI,
          ...['--stream', stream, '--group', group, '--consumer', `w${w + 1}`, '--table', table],
          ...['--batch-size', String(batch), '--batch-timeout-ms', '100'],
          ...['--metrics-port', String(port)],
        ],
        { REDIS_URL: redisUrl, DATABASE_URL: dbUrl },
      ),
    );
  }
  const redis = new Redis(redisUrl);
  try {
    await waitUntil(
      'the workers to join the group',
      20_000,
      async () => {
        if (procs.some((p) => p.exitCode !== null)) {
          throw new Error(`a worker exited: ${procs.map((p) => p.stderrTail()).join('\n')}`);
        }
        const consumers = await redis.xinfo('CONSUMERS', stream, group).catch(() => []);
        return consumers.length === workers;
      },
      50,
    );
  } finally {
    redis.disconnect();
  }
  return { procs, ports };
}

async function health(port) {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return res.json();
}

/** `--naive-worker`: this file as the naive peer, one INSERT and one XACK per entry. */
async function naiveWorker() {
  const [stream, group, table] = process.argv.slice(3, 6);
  const redis = new Redis(process.env.REDIS_URL);
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY, stream_id text NOT NULL, room text,
     event_type text NOT NULL, payload jsonb NOT NULL, ts timestamptz NOT NULL, trace_id text NOT NULL,
     inserted_at timestamptz NOT NULL DEFAULT now())`,
  );
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM').catch(() => {});
  // So that the bench sees it join (a blocked XREADGROUP alone does not create it on 7.0).
  await redis.xgroup('CREATECONSUMER', stream, group, 'naive');
  let running = true;
  process.once('SIGTERM', () => {
    running = false;
  });
  while (running) {
    const reply = await redis.xreadgroup(
      ...['GROUP', group, 'naive', 'COUNT', 100, 'BLOCK', 200, 'STREAMS', stream, '>'],
    );
    for (const [id, fields] of reply?.[0]?.[1] ?? []) {
      const e = JSON.parse(fields[1]);
      await pool.query(
        `INSERT INTO ${table} (id, stream_id, room, event_type, payload, ts, trace_id)
         VALUES ($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), $7) ON CONFLICT (id) DO NOTHING`,
        [e.id, id, e.room, e.eventType, JSON.stringify(e.payload), e.ts, e.traceId],
      );
      await redis.xack(stream, group, id);
    }
  }
  redis.disconnect();
  await pool.end();
}

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  console.log(
    `persistence worker bench: N=${N}, ${ROUNDS} round(s), load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const redisServer = await startRedis();
  const db = await createDatabase();
  const redis = new Redis(redisServer.url);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const results = new Map(CONFIGS.map((c) => [c, { rates: [], cpu: [], latency: [] }]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Configurations interleaved round by round, so that a noisy minute on this shared
      // machine weighs on all of them alike.
      for (const config of CONFIGS) {
        const name = `b${config.batch}w${config.workers}r${round}`;
        const names = { stream: `bench:${name}`, group: 'persist', table: `events_${name}` };
        const { procs, ports } = await startWorkers({
          redisUrl: redisServer.url,
          dbUrl: db.url,
          ...names,
          ...config,
        });
        try {
          // Warm-up: creates the table, prepares the statements, wakes the JIT.
          await within(
            'warm-up',
            RUN_LIMIT_MS,
            timedRun({ redis, sql, ...names, tag: `warm`, count: 5000 }),
          );
          const cpuBefore = procs.map((p) => cpuSeconds(p.pid));
          const rate = await within(
            name,
            RUN_LIMIT_MS,
            timedRun({ redis, sql, ...names, tag: name, count: N }),
          );
          const cpu = procs.reduce((sum, p, i) => sum + cpuSeconds(p.pid) - cpuBefore[i], 0);
          const stats = await Promise.all(ports.map(health));
          const entry = results.get(config);
          entry.rates.push(rate);
          entry.cpu.push((cpu * 1000 * 1000) / N); // worker CPU ms per 1,000 messages
          entry.latency.push(...stats.map((s) => s.insertLatency.p50Ms));
          console.log(
            `  ${name}: ${fmt(rate)} msg/s, worker CPU ${fmt((cpu * 1e6) / N)} ms per 1k, ` +
              `insert p50 ${stats.map((s) => s.insertLatency.p50Ms).join('/')} ms, ` +
              `batches ${stats.map((s) => s.batches).join('/')}`,
          );
        } finally {
          await Promise.all(procs.map((p) => stop(p)));
        }
      }
    }

    // The naive peer, once per round, on fewer messages (it is slow).
    const naiveRates = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const names = { stream: `bench:naive${round}`, group: 'persist', table: `naive_${round}` };
      const child = start(
        process.execPath,
        [fileURLToPath(import.meta.url), '--naive-worker', names.stream, names.group, names.table],
        {
          REDIS_URL: redisServer.url,
          DATABASE_URL: db.url,
        },
      );
      try {
        await waitUntil(
          'the naive worker to join',
          20_000,
          async () => {
            if (child.exitCode !== null)
              throw new Error(`the naive worker exited: ${child.stderrTail()}`);
            const consumers = await redis
              .xinfo('CONSUMERS', names.stream, names.group)
              .catch(() => []);
            return consumers.length === 1;
          },
          50,
        ).catch((error) => {
          throw new Error(`${error.message}; its stderr: ${child.stderrTail()}`);
        });
        await within(
          'naive warm-up',
          RUN_LIMIT_MS,
          timedRun({ redis, sql, ...names, tag: 'warm', count: 1000 }),
        );
        const rate = await within(
          'naive',
          RUN_LIMIT_MS,
          timedRun({ redis, sql, ...names, tag: `naive${round}`, count: NAIVE_N }),
        );
        naiveRates.push(rate);
        console.log(`  naive r${round}: ${fmt(rate)} msg/s`);
      } finally {
        await stop(child);
      }
    }

    console.log(
      '\n| workers | batch | msg/s (median) | min - max | worker CPU ms / 1k msg | insert p50 ms |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|');
    for (const config of CONFIGS) {
      const r = results.get(config);
      console.log(
        `| ${config.workers} | ${fmt(config.batch)} | ${fmt(median(r.rates))} | ` +
          `${fmt(Math.min(...r.rates))} - ${fmt(Math.max(...r.rates))} | ${fmt(median(r.cpu))} | ` +
          `${fmt(median(r.latency))} |`,
      );
    }
    console.log(
      `| 1 (naive: INSERT + XACK per entry) | 1 | ${fmt(median(naiveRates))} | ` +
        `${fmt(Math.min(...naiveRates))} - ${fmt(Math.max(...naiveRates))} | | |`,
    );
    console.log(
      `load average at the end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    redis.disconnect();
    await sql.end();
    await db.drop();
    await stop(redisServer.child);
  }
}

/** `npm run bench -- worker [--quick] [--n=...]`. */
export async function run(args = []) {
  configure(args);
  guard();
  await main();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--naive-worker') {
    await naiveWorker();
  } else {
    await run(process.argv.slice(2)).catch((error) => {
      console.error(`bench failed: ${error.stack ?? error}`);
      process.exitCode = 1;
    });
  }
}
