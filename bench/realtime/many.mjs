// Many idle connections on ONE hub process: @bancada/realtime (WebSocket plus an SSE share)
// and, in the same run, socket.io + @socket.io/redis-adapter (WebSocket only). Per hub: RSS
// and JS heap per idle connection, connect rate, the CPU the idle hub spends (heartbeats),
// and the time one broadcast takes to reach every connection.
//
//   node realtime/many.mjs                                 # 50,000 connections, ~6 min
//   node realtime/many.mjs --connections=2000 --cpu-window=3 --heartbeat-ms=1000   # smoke
//   node realtime/many.mjs --connections=5000 --hubs=bancada --sse-share=0 --recheck=both
//
// Options (--name=value): --connections=50000 --sse-share=0.1 (of ours; socket.io has no SSE)
//   --hubs=bancada,sio-redis (and ws-raw: a bare ws server, the floor) --recheck=on|off|both (ours: authenticate admits everyone, and
//   the session re-check is on or off; "both" measures ours twice) --heartbeat-ms=10000
//   --cpu-window=30 (s of idle CPU measured: whole heartbeat rounds of ours, so also the CPU
//   of one round, and what it makes at the hub's default heartbeat of 30 s) --broadcasts=3 --sources=8 (127.0.0.2, ...)
//   --client-procs (default one per 12,500 connections) --concurrency=200 (handshakes in
//   flight per client process) --port=7700 --redis-port=6391
// Env: BENCH_PEERS_DIR (default <repo>/../shared/bench-peers) for socket.io's server.
//
// Connections come from several loopback source addresses (127.0.0.2, 127.0.0.3, ...), so the
// client side does not run out of ports, and every process starts with its open-files limit
// raised as far as it may (root: any). Results: realtime/results/many-<stamp>.{jsonl,md}.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  killAllNow,
  portAnswers,
  rpc,
  sleep,
  spawnNode,
  startRedis,
  stopChild,
  ulimitTo,
  waitMsg,
} from './processes.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const PER_CLIENT_PROC = 12_500;

function options(args) {
  const get = (name, dflt) => {
    const hit = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (hit === undefined) return dflt;
    return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : true;
  };
  const connections = Number(get('connections', 50_000));
  const recheck = String(get('recheck', 'on'));
  if (!['on', 'off', 'both'].includes(recheck)) throw new Error('--recheck=on|off|both');
  return {
    connections,
    sseShare: Number(get('sse-share', 0.1)),
    hubs: String(get('hubs', 'bancada,sio-redis')).split(','),
    recheck,
    heartbeatMs: Number(get('heartbeat-ms', 10_000)),
    cpuWindowS: Number(get('cpu-window', 30)),
    broadcasts: Number(get('broadcasts', 3)),
    sources: Number(get('sources', 8)),
    clientProcs: Number(get('client-procs', Math.ceil(connections / PER_CLIENT_PROC))),
    concurrency: Number(get('concurrency', 200)),
    port: Number(get('port', 7700)),
    redisPort: Number(get('redis-port', 6391)),
  };
}

/** VmRSS of a process, in bytes. */
function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** User + system CPU seconds of a process. */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** The hub process of one measurement, and how to ask it for a GC, its heap and a broadcast. */
async function startServer(o, kind, env, recheck) {
  const files = o.connections + 2000;
  if (kind === 'bancada') {
    const args = ['--port', String(o.port), '--redis', env.redisUrl, '--id', 'many-1'];
    args.push('--heartbeat-ms', String(o.heartbeatMs), '--max-life', '1500', '--sse', '--auth');
    if (recheck) args.push('--recheck');
    const child = spawnNode(join(here, 'hub-server.mjs'), args, {
      cwd: repoRoot,
      ipc: true,
      nodeArgs: ['--expose-gc'],
      files,
    });
    await waitMsg(child, (m) => m?.ready !== undefined, 15_000, 'our hub ready');
    return {
      child,
      wsUrl: `ws://127.0.0.1:${o.port}/ws`,
      sseUrl: `http://127.0.0.1:${o.port}/events?room=r1`,
      heap: async () => (await rpc(child, { cmd: 'stats' }, (m) => m?.stats, 10_000, 's')).stats,
    };
  }
  if (kind === 'ws-raw') {
    const child = spawnNode(
      join(here, 'raw-ws-server.mjs'),
      ['--port', String(o.port), '--heartbeat-ms', String(o.heartbeatMs)],
      { cwd: repoRoot, ipc: true, nodeArgs: ['--expose-gc'], files },
    );
    await waitMsg(child, (m) => m?.ready !== undefined, 15_000, 'raw ws ready');
    return {
      child,
      wsUrl: `ws://127.0.0.1:${o.port}/`,
      heap: async () => (await rpc(child, { cmd: 'stats' }, (m) => m?.stats, 10_000, 's')).stats,
    };
  }
  const script = join(env.harnessDir, 'servers', 'sio-hub.mjs');
  const child = spawnNode(script, ['--port', String(o.port), '--redis', env.redisUrl], {
    cwd: env.harnessDir,
    ipc: true,
    nodeArgs: ['--expose-gc'],
    files,
  });
  await waitMsg(child, (m) => m?.ready !== undefined, 15_000, 'socket.io ready');
  return {
    child,
    wsUrl: `http://127.0.0.1:${o.port}`,
    heap: async () => (await rpc(child, { cmd: 'stats' }, (m) => m?.stats, 10_000, 's')).stats,
  };
}

async function measure(o, kind, env, recheck) {
  const label = kind === 'bancada' ? `bancada, re-check ${recheck ? 'on' : 'off'}` : kind;
  console.log(`[many] ${label}: ${o.connections} connections`);
  if (await portAnswers(o.port)) throw new Error(`port ${o.port} is in use (--port=...)`);
  const server = await startServer(o, kind, env, recheck);
  const pid = server.child.pid;
  const clients = [];
  try {
    const gc = () => rpc(server.child, { cmd: 'gc' }, (m) => m?.gcDone, 20_000, 'gc');
    await gc();
    const before = { rss: rssOf(pid), heap: (await server.heap()).heapUsed };

    const sse = kind === 'bancada' ? Math.round(o.connections * o.sseShare) : 0;
    const sources = Array.from({ length: o.sources }, (_, i) => `127.0.0.${2 + i}`);
    const shares = Array.from({ length: o.clientProcs }, (_, i) => {
      const part = (n) => Math.floor(n / o.clientProcs) + (i < n % o.clientProcs ? 1 : 0);
      return { ws: part(o.connections - sse), sse: part(sse) };
    });
    for (const share of shares) {
      clients.push(
        spawnNode(join(here, 'many-clients.mjs'), [], {
          cwd: repoRoot,
          ipc: true,
          files: share.ws + share.sse + 1000,
        }),
      );
    }
    const cpuConnect0 = cpuOf(pid);
    const t0 = Date.now();
    const opened = await Promise.all(
      clients.map((c, i) =>
        rpc(
          c,
          {
            cmd: 'open',
            hub: kind,
            wsUrl: server.wsUrl,
            sseUrl: server.sseUrl,
            ...shares[i],
            sources,
            concurrency: o.concurrency,
            room: 'r1',
            harnessDir: env.harnessDir,
          },
          (m) => m?.cmd === 'opened',
          600_000,
          'connections',
        ),
      ),
    );
    const connectS = (Date.now() - t0) / 1000;
    const connectCpuS = cpuOf(pid) - cpuConnect0;
    const open = opened.reduce((s, r) => s + r.opened, 0);
    const failed = opened.reduce((s, r) => s + r.failed, 0);
    const firstError = opened.find((r) => r.firstError)?.firstError;
    if (failed > 0) console.log(`[many] ${label}: ${failed} failed (${firstError})`);

    await sleep(3000); // joins answered
    await gc();
    const after = { rss: rssOf(pid), heap: (await server.heap()).heapUsed };

    // Idle: no events, only heartbeats (ours every --heartbeat-ms; socket.io's engine.io
    // pings every 25 s per socket, its default).
    const cpu0 = cpuOf(pid);
    await sleep(o.cpuWindowS * 1000);
    const idleCpuPct = ((cpuOf(pid) - cpu0) / o.cpuWindowS) * 100;

    const deliveries = [];
    for (let seq = 1; seq <= o.broadcasts; seq++) {
      await Promise.all(
        clients.map((c) =>
          rpc(c, { cmd: 'expect', seq }, (m) => m?.expecting === seq, 10_000, 'e'),
        ),
      );
      const sent = nowUs();
      if (kind === 'bancada' || kind === 'ws-raw') {
        await rpc(
          server.child,
          { cmd: 'publish', room: '*', data: { bcast: seq } },
          (m) => m?.published,
          10_000,
          'publish',
        );
      } else {
        await rpc(clients[0], { cmd: 'publish', seq }, (m) => m?.sent === seq, 10_000, 'publish');
      }
      let reports = [];
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        await sleep(200);
        reports = await Promise.all(
          clients.map((c) => rpc(c, { cmd: 'report' }, (m) => m?.report, 30_000, 'report')),
        );
        if (reports.reduce((s, r) => s + r.report.got, 0) >= open) break;
      }
      const times = reports
        .flatMap((r) => r.report.times)
        .map((t) => (t - sent) / 1000)
        .sort((a, b) => a - b);
      deliveries.push({
        seq,
        got: times.length,
        p50Ms: +quantile(times, 0.5).toFixed(1),
        p99Ms: +quantile(times, 0.99).toFixed(1),
        allMs: +times[times.length - 1].toFixed(1),
      });
      await sleep(1000);
    }
    const dropped = (
      await Promise.all(
        clients.map((c) => rpc(c, { cmd: 'closed' }, (m) => 'closed' in m, 10_000, 'c')),
      )
    ).reduce((s, m) => s + m.closed, 0);
    const row = {
      mode: 'many',
      hub: kind,
      label,
      recheck: kind === 'bancada' ? recheck : undefined,
      connections: o.connections,
      sse,
      open,
      failed,
      firstError,
      dropped,
      connectS: +connectS.toFixed(2),
      connectPerS: Math.round(open / connectS),
      connectCpuS: +connectCpuS.toFixed(2),
      clientRssMB: opened.map((r) => Math.round(r.rss / 2 ** 20)),
      rssBefore: before.rss,
      rssAfter: after.rss,
      rssPerConnKB: +((after.rss - before.rss) / open / 1024).toFixed(2),
      heapPerConnKB: +((after.heap - before.heap) / open / 1024).toFixed(2),
      heartbeatMs: kind === 'sio-redis' ? 25_000 : o.heartbeatMs,
      idleCpuPct: +idleCpuPct.toFixed(2),
      // Ours and the bare ws server: one timer pings every connection at once, so the window
      // holds whole rounds.
      ...(kind !== 'sio-redis'
        ? (() => {
            const perRoundMs = (idleCpuPct / 100) * o.heartbeatMs;
            return {
              heartbeatMsPerRound: +perRoundMs.toFixed(1),
              heartbeatPctAtDefault: +((perRoundMs / 30_000) * 100).toFixed(2),
            };
          })()
        : {}),
      cpuWindowS: o.cpuWindowS,
      deliveries,
    };
    appendFileSync(env.out, `${JSON.stringify(row)}\n`);
    console.log(`[many] ${JSON.stringify(row)}`);
    return row;
  } finally {
    await Promise.all(clients.map((c) => stopChild(c, 'SIGTERM', 3000)));
    await stopChild(server.child);
  }
}

function table(rows) {
  const fmt = (n) => (n === undefined ? '' : n.toLocaleString('en-US'));
  const lines = [
    '| hub | connections (SSE) | open / failed / dropped | connect/s | RSS KB/conn | JS heap KB/conn | idle CPU % of a core (heartbeat) | one broadcast to all: p50 / p99 / last ms |',
    '|---|---|---|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const b = r.deliveries.map((d) => `${d.p50Ms} / ${d.p99Ms} / ${d.allMs}`).join('; ');
    lines.push(
      `| ${r.label} | ${fmt(r.connections)} (${fmt(r.sse)}) | ${fmt(r.open)} / ${r.failed} / ${r.dropped} | ${fmt(r.connectPerS)} | ${r.rssPerConnKB} | ${r.heapPerConnKB} | ${r.idleCpuPct} (every ${r.heartbeatMs / 1000} s)${r.heartbeatMsPerRound === undefined ? '' : `: ${r.heartbeatMsPerRound} ms a round, ${r.heartbeatPctAtDefault} at the default 30 s`} | ${b} |`,
    );
  }
  return lines.join('\n');
}

export async function run(args = []) {
  const o = options(args);
  const harnessDir = resolve(
    process.env.BENCH_PEERS_DIR ?? join(repoRoot, '..', 'shared', 'bench-peers'),
  );
  if (o.hubs.includes('sio-redis') && !existsSync(join(harnessDir, 'node_modules', 'socket.io'))) {
    throw new Error(`socket.io not installed in ${harnessDir} (npm ci there, or --hubs=bancada)`);
  }
  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = join(resultsDir, `many-${stamp}.jsonl`);
  const fdLimit = spawnSync('sh', ['-c', `${ulimitTo(o.connections + 2000)}ulimit -n`])
    .stdout.toString()
    .trim();
  if (Number(fdLimit) < o.connections + 1000) {
    throw new Error(
      `the open-files limit a process gets here is ${fdLimit}: one hub process cannot hold ` +
        `${o.connections} connections. Raise the hard limit first (ulimit -Hn, which needs ` +
        'CAP_SYS_RESOURCE; a container: --ulimit nofile=120000:120000; systemd: LimitNOFILE), ' +
        `or run --connections=${Math.max(0, Number(fdLimit) - 1000)}`,
    );
  }
  appendFileSync(
    out,
    `${JSON.stringify({ mode: 'meta', time: new Date().toISOString(), node: process.version, options: o, fdLimit })}\n`,
  );
  const hard = setTimeout(() => {
    console.error('[many] over 40 minutes: stopping everything');
    killAllNow();
    process.exit(4);
  }, 2_400_000);
  hard.unref();
  process.once('SIGINT', () => {
    killAllNow();
    process.exit(130);
  });
  process.once('exit', killAllNow);

  const redis = await startRedis(o.redisPort, 2400);
  const env = { harnessDir, redisUrl: redis.url, out };
  const rows = [];
  try {
    for (const kind of o.hubs) {
      const checks =
        kind !== 'bancada' ? [false] : { on: [true], off: [false], both: [true, false] }[o.recheck];
      for (const recheck of checks) {
        try {
          rows.push(await measure(o, kind, env, recheck));
        } catch (error) {
          console.error(`[many] ${kind}: ${error?.stack ?? error}`);
          appendFileSync(
            out,
            `${JSON.stringify({ mode: 'failed', hub: kind, error: String(error) })}\n`,
          );
        }
        await sleep(2000);
      }
    }
  } finally {
    await stopChild(redis.child);
    clearTimeout(hard);
  }
  const md = [
    `# Many idle connections on one hub process, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `${o.connections.toLocaleString('en-US')} connections from ${o.sources} loopback addresses, ${o.clientProcs} client process(es); open-files limit ${fdLimit}. RSS and JS heap per connection after a forced GC, minus before any connection; idle CPU over ${o.cpuWindowS} s with no events; broadcast times from the publish to each receipt (CLOCK_MONOTONIC across processes).`,
    '',
    table(rows),
    '',
  ].join('\n');
  writeFileSync(out.replace(/\.jsonl$/, '.md'), md);
  console.log(`\n${md}\n[many] -> ${out}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((error) => {
    console.error(error?.stack ?? error);
    killAllNow();
    process.exit(1);
  });
}
