// @bancada/realtime side by side with socket.io + @socket.io/redis-adapter and a raw `ws` +
// Redis pub/sub loop, on the shared fan-out harness (../shared/bench-peers beside the repo):
// 2 server processes on one Redis, N clients in one room spread over both, ~200-byte payloads
// at several rates, the hubs interleaved per rate; then server RSS per idle connection.
//
//   npm run bench -- realtime                  # about 13 minutes on 2 cores
//   npm run bench -- realtime --quick          # a smoke run, about 2 minutes
//   node bench/realtime/run.mjs --reps=1 --rates=25,100 --no-idle
//   node bench/realtime/run.mjs --curve           # saturation curve, about 18 minutes
//
// Options take the --name=value form (bench/index.mjs treats a bare word as a suite name):
//   --reps=2  --rates=10,25,50,75,100  --duration=10  --clients=1000  --idle-clients=5000
//   --no-idle  --no-redis-pub (skips the extra "ours, events PUBLISHed into Redis by another
//   service" variant)
//   --redis-port=6391 (first port tried for the private redis-server)  --hub-port=7600
//   --curve  the saturation curve: --rates=50,100,200,300,400 --reps=2, no idle test and no
//   PUBLISHed-into-Redis variant (the rates and repetitions can still be given)
//   --write-delay-ms=N  adds "bancada-delay": our hub with writeDelayMs N, beside the default 0
//   --report=<results .jsonl>  only re-render its .md (summary, goals, harness tables, plot)
// Env: BENCH_PEERS_DIR (default <repo>/../shared/bench-peers).
//
// It starts its own redis-server (on a free port, never 6379) and its own hub processes, bounds
// every step with a time limit, and stops all it started. Results: bench/realtime/results/
// realtime-<stamp>.jsonl (one line per run, the harness's own line plus our fields) and .md.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { curveSvg } from './curve-plot.mjs';
import {
  killAllNow,
  portAnswers,
  rpc,
  sleep,
  spawnNode,
  startRedis,
  stopChild,
  ULIMIT,
  waitMsg,
} from './processes.mjs';
import { summarize } from './summary.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

/** md5 of the built hub the servers load, so a rebuild during a sitting would show. */
function hubBuildHash() {
  try {
    const file = fileURLToPath(import.meta.resolve('@bancada/realtime'));
    return createHash('md5').update(readFileSync(file)).digest('hex').slice(0, 12);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (USER_HZ = 100) busy on the whole machine, and used by us: this process, its
 * reaped descendants (harness, clients, publisher, servers) and the Redis server. The
 * difference over a run is what other programs on the machine took meanwhile.
 */
function cpuSample(redisPid) {
  const num = (xs) => xs.reduce((s, x) => s + Number(x), 0) / 100;
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const busy = num([all[0], all[1], all[2], all[5], all[6], all[7]]);
  const statOf = (pid) => {
    try {
      const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return t.slice(t.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  const self = statOf('self');
  const redis = redisPid ? statOf(redisPid) : undefined;
  const own = num(self.slice(11, 15)) + (redis ? num(redis.slice(11, 13)) : 0);
  return { t: Date.now(), busy, own };
}

function options(args) {
  const get = (name, dflt) => {
    const hit = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (hit === undefined) return dflt;
    return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : true;
  };
  const quick = !!get('quick', false);
  // The saturation curve: R from 50 until every hub falls over, two repetitions interleaved,
  // fan-out only (a table and an SVG plot beside the results).
  const curve = !!get('curve', false);
  const list = (s) =>
    String(s)
      .split(',')
      .map(Number)
      .filter((x) => x > 0);
  return {
    quick,
    curve,
    reps: Number(get('reps', quick ? 1 : 2)),
    rates: list(get('rates', curve ? '50,100,200,300,400' : quick ? '25,100' : '10,25,50,75,100')),
    duration: Number(get('duration', quick ? 5 : 10)),
    clients: Number(get('clients', 1000)),
    idleClients: Number(get('idle-clients', quick ? 1000 : 5000)),
    idle: !curve && !get('no-idle', false),
    withRedisPub: !curve && !get('no-redis-pub', false),
    redisPort: Number(get('redis-port', 6391)),
    hubPort: Number(get('hub-port', 7600)),
    writeDelayMs: Number(get('write-delay-ms', 0)),
    drain: 5,
  };
}

// ---- our hub: two fresh processes per measurement ------------------------------------------
async function startHubs(o, redisUrl, extra = []) {
  const ports = [o.hubPort, o.hubPort + 1];
  for (const port of ports) {
    if (await portAnswers(port)) throw new Error(`port ${port} is in use (--hub-port=...)`);
  }
  const servers = ports.map((port, i) =>
    spawnNode(
      join(here, 'hub-server.mjs'),
      [
        '--port',
        String(port),
        '--redis',
        redisUrl,
        '--id',
        `bench-${i + 1}`,
        '--max-life',
        '900',
        ...extra,
      ],
      { cwd: repoRoot, ipc: true, nodeArgs: ['--expose-gc'] },
    ),
  );
  const ready = await Promise.all(
    servers.map((s, i) => waitMsg(s, (m) => m?.ready !== undefined, 15000, `hub ${i + 1} ready`)),
  );
  if (!ready.every((r) => r.ready)) throw new Error('a hub did not get ready (Redis)');
  return { servers, ports, pids: servers.map((s) => s.pid) };
}
const gcHubs = (hubs) =>
  Promise.all(hubs.servers.map((s) => rpc(s, { cmd: 'gc' }, (m) => m?.gcDone, 5000, 'gc')));
const hubStats = (hubs) =>
  Promise.all(
    hubs.servers.map((s) =>
      rpc(s, { cmd: 'stats' }, (m) => m?.stats, 5000, 'stats').then((m) => m.stats),
    ),
  );
const stopHubs = (hubs) => Promise.all(hubs.servers.map((s) => stopChild(s)));

// ---- one harness run ------------------------------------------------------------------------
async function harness(env, hubArgs, label, limitS) {
  const tmp = join(env.resultsDir, `.run-${process.pid}.jsonl`);
  rmSync(tmp, { force: true });
  const child = spawnNode(
    'run.mjs',
    [...hubArgs, '--redis', env.redisUrl, '--label', label, '--out', tmp],
    {
      cwd: env.harnessDir,
    },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    process.stdout.write(d);
  });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  const timer = setTimeout(() => {
    console.error(`[realtime] ${label}: over ${limitS} s, stopping it`);
    void stopChild(child, 'SIGINT', 10000);
  }, limitS * 1000);
  const { code, sig } = await exited;
  clearTimeout(timer);
  const line = existsSync(tmp)
    ? readFileSync(tmp, 'utf8').trim().split('\n').filter(Boolean).pop()
    : undefined;
  rmSync(tmp, { force: true });
  if (!line) return { error: `harness exited code=${code} sig=${sig} without a result`, out };
  return { row: JSON.parse(line), code };
}

function fanoutArgs(o, hub, hubs, env) {
  const load = [
    '--clients',
    String(o.clients),
    '--duration',
    String(o.duration),
    '--drain',
    String(o.drain),
  ];
  if (hub === 'sio-redis' || hub === 'ws-redis') return ['--hub', hub, '--procs', '2', ...load];
  const common = [
    '--hub',
    'external',
    '--adapter',
    'ws',
    '--urls',
    hubs.ports.map((p) => `ws://127.0.0.1:${p}/ws`).join(','),
    '--server-pids',
    hubs.pids.join(','),
    '--join-tpl',
    '{"type":"subscribe","room":"{room}"}',
    '--data-path',
    'payload',
    '--redis-pid',
    String(env.redisPid),
    ...load,
  ];
  if (hub === 'bancada' || hub === 'bancada-delay') {
    return [...common, '--pub-url', `ws://127.0.0.1:${hubs.ports[0]}/pub`];
  }
  // bancada-redispub: another service PUBLISHes envelopes straight to the room's channel.
  return [
    ...common,
    '--pub-adapter',
    'redis',
    '--pub-url',
    env.redisUrl,
    '--pub-channel',
    'ws:room:r1',
    '--pub-tpl',
    '{"eventType":"msg","payload":{data},"room":"{room}"}',
  ];
}

const trimStats = (s) => ({
  ...s,
  logged: s.logged.filter((l) => !l.includes('authenticate is false')),
});

async function measure(o, env, hub, extra) {
  const { rep, rate, idle } = extra;
  const isOurs = hub.startsWith('bancada');
  const label = idle
    ? `${hub} x2 N=${o.idleClients} idle rep${rep}`
    : `${hub} x2 N=${o.clients} R=${rate} rep${rep}`;
  const limitS = idle ? 240 : o.duration + o.drain + 240;
  let hubs;
  let row;
  const cpu0 = cpuSample(env.redisPid);
  const build = isOurs ? hubBuildHash() : undefined;
  try {
    // bancada-recheck: an authenticate and the session re-check on, so that each connection
    // keeps what the re-check reads of its request (its cost per idle connection).
    if (isOurs) {
      const flags = {
        'bancada-recheck': ['--auth', '--recheck'],
        'bancada-delay': ['--write-delay-ms', String(o.writeDelayMs)],
      }[hub];
      hubs = await startHubs(o, env.redisUrl, flags);
    }
    let args;
    if (idle) {
      args = isOurs
        ? [
            '--hub',
            'external',
            '--adapter',
            'ws',
            '--urls',
            hubs.ports.map((p) => `ws://127.0.0.1:${p}/ws`).join(','),
            '--server-pids',
            hubs.pids.join(','),
            '--join-tpl',
            '{"type":"subscribe","room":"{room}"}',
            '--data-path',
            'payload',
          ]
        : ['--hub', hub, '--procs', '2'];
      args.push('--clients', String(o.idleClients), '--idle');
    } else args = [...fanoutArgs(o, hub, hubs, env), '--rate', String(rate)];
    // The harness forces a GC in the servers it starts, before and after connecting; for an
    // external hub it cannot, so for `bancada-gc` we do the same from here over IPC.
    let gcWatcher;
    if (isOurs) await gcHubs(hubs);
    if (hub === 'bancada-gc') gcWatcher = gcWhenConnected(hubs, o.idleClients, limitS);
    const result = await harness(env, args, label, limitS);
    const gcAt = gcWatcher ? await gcWatcher.stop() : undefined;
    if (result.error) {
      console.error(`[realtime] ${label}: ${result.error}`);
      appendFileSync(
        env.out,
        `${JSON.stringify({ mode: 'failed', label, hub, rate, rep, error: result.error })}\n`,
      );
      return;
    }
    row = { ...result.row, harnessHub: result.row.hub, hub, rep, pubPath: pubPathOf(hub) };
    if (gcAt !== undefined) row.gcAfterConnectMs = gcAt;
    if (isOurs) {
      row.hubStats = (await hubStats(hubs)).map(trimStats);
      row.hubBuild = build;
    }
  } catch (error) {
    console.error(`[realtime] ${label}: ${error?.stack ?? error}`);
    appendFileSync(
      env.out,
      `${JSON.stringify({ mode: 'failed', label, hub, rate, rep, error: String(error?.message ?? error) })}\n`,
    );
  } finally {
    if (hubs) await stopHubs(hubs);
  }
  if (row) {
    const cpu1 = cpuSample(env.redisPid);
    const secs = (cpu1.t - cpu0.t) / 1000;
    row.otherCpuPct = +(((cpu1.busy - cpu0.busy - (cpu1.own - cpu0.own)) / secs) * 100).toFixed(1);
    if (isOurs && hubBuildHash() !== build) row.hubBuildAfter = hubBuildHash();
    appendFileSync(env.out, `${JSON.stringify(row)}\n`);
  }
}

/** Polls the hubs until `n` clients are connected, then collects garbage in both, once. */
function gcWhenConnected(hubs, n, limitS) {
  let stop = false;
  let doneAt;
  const t0 = Date.now();
  const loop = (async () => {
    while (!stop && Date.now() - t0 < limitS * 1000) {
      const st = await hubStats(hubs).catch(() => []);
      if (st.reduce((s, x) => s + x.hub.connections.websocket, 0) >= n) {
        await sleep(300); // joins answered
        await gcHubs(hubs);
        doneAt = Date.now() - t0;
        return;
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return doneAt;
    },
  };
}

const pubPathOf = (hub) =>
  ({
    bancada:
      'publisher -> ws /pub on instance 1 -> hub.publish() (local at once, instance 2 via Redis)',
    'bancada-gc': '-',
    'bancada-recheck': '-',
    'bancada-delay': 'as bancada, the hub with writeDelayMs',
    'bancada-redispub':
      'publisher PUBLISHes the envelope to ws:room:r1; both instances deliver from Redis',
    'sio-redis':
      'publisher -> socket.io instance 1 -> io.to(room).emit (local, instance 2 via Redis)',
    'ws-redis': 'publisher -> ws instance 1 -> Redis; both instances deliver from Redis',
  })[hub];

// ---- the whole comparison ------------------------------------------------------------------
export async function run(args = []) {
  const o = options(args);
  const harnessDir = resolve(
    process.env.BENCH_PEERS_DIR ?? join(repoRoot, '..', 'shared', 'bench-peers'),
  );
  const again = args.find((a) => a.startsWith('--report='));
  if (again) {
    writeReport(resolve(again.slice('--report='.length)), harnessDir);
    return;
  }
  if (!existsSync(join(harnessDir, 'run.mjs'))) {
    throw new Error(
      `fan-out harness not found at ${harnessDir} (clone shared/ beside the repo, or set BENCH_PEERS_DIR)`,
    );
  }
  if (!existsSync(join(harnessDir, 'node_modules', 'socket.io'))) {
    console.log(`[realtime] installing the harness's dependencies (npm ci in ${harnessDir})`);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: harnessDir,
      stdio: 'inherit',
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error('npm ci in the harness failed');
  }
  try {
    await import('@bancada/realtime');
  } catch (error) {
    throw new Error(`@bancada/realtime does not load (run npm run build first): ${error.message}`);
  }
  const fdLimit = Number(
    spawnSync('sh', ['-c', `${ULIMIT}ulimit -n`])
      .stdout.toString()
      .trim(),
  );
  if (fdLimit < 2 * o.idleClients + 1000) {
    console.warn(
      `[realtime] open-files limit is ${fdLimit}: the ${o.idleClients}-connection idle test needs more (ulimit -n 20000)`,
    );
  }

  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = join(resultsDir, `realtime-${stamp}.jsonl`);

  const hubsFan = [
    'bancada',
    'sio-redis',
    'ws-redis',
    ...(o.withRedisPub ? ['bancada-redispub'] : []),
    ...(o.writeDelayMs > 0 ? ['bancada-delay'] : []),
  ];
  const hubsIdle = ['bancada', 'bancada-recheck', 'bancada-gc', 'sio-redis', 'ws-redis'];
  const runs = o.reps * (o.rates.length * hubsFan.length + (o.idle ? hubsIdle.length : 0));
  const limitS = runs * (o.duration + o.drain + 90) + 600;
  const hard = setTimeout(() => {
    console.error(`[realtime] whole run over ${limitS} s: stopping everything`);
    killAllNow();
    process.exit(4);
  }, limitS * 1000);
  hard.unref();
  const onSignal = () => {
    killAllNow();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAllNow);

  const redis = await startRedis(o.redisPort, limitS);
  const env = {
    harnessDir,
    resultsDir,
    out,
    redisUrl: redis.url,
    redisPid: redis.pid,
    hubBuild: hubBuildHash(),
  };
  const t0 = Date.now();
  console.log(
    `[realtime] redis-server pid ${redis.pid} on ${redis.port}; ${runs} runs; results -> ${out}`,
  );
  try {
    const require = createRequire(import.meta.url);
    const version = (p) => {
      try {
        return JSON.parse(readFileSync(require.resolve(`${p}/package.json`), 'utf8')).version;
      } catch {
        return undefined;
      }
    };
    const redisVersion = /v=([\d.]+)/.exec(
      spawnSync('redis-server', ['--version']).stdout.toString(),
    )?.[1];
    appendFileSync(
      out,
      `${JSON.stringify({
        mode: 'meta',
        time: new Date().toISOString(),
        node: process.version,
        cpus: availableParallelism(),
        redis: redisVersion,
        options: o,
        hubsFan,
        hubsIdle,
        hubBuild: env.hubBuild,
        versions: {
          '@bancada/realtime': version('@bancada/realtime'),
          ws: version('ws'),
          ioredis: version('ioredis'),
        },
      })}\n`,
    );

    // Fan-out: every rate measures each hub once per repetition, the order turned round each
    // repetition, so that the VM's noise lands on all of them alike.
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const rate of o.rates) {
        const order = rep % 2 === 1 ? hubsFan : [...hubsFan].reverse();
        for (const hub of order) {
          await measure(o, env, hub, { rep, rate });
          await sleep(1000);
        }
      }
    }
    // Idle connections: fresh server processes each, as many repetitions, order turned round.
    if (o.idle) {
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const hub of rep % 2 === 1 ? hubsIdle : [...hubsIdle].reverse()) {
          await measure(o, env, hub, { idle: true, rep });
          await sleep(1000);
        }
      }
    }
  } finally {
    await stopChild(redis.child);
    clearTimeout(hard);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  writeReport(out, harnessDir, (Date.now() - t0) / 60000);
}

/** Renders <name>.md beside a results .jsonl: our summary and goals, then the harness's tables. */
function writeReport(out, harnessDir, minutes) {
  const report = (flags) =>
    spawnSync(process.execPath, [join(harnessDir, 'report.mjs'), ...flags, out], {
      encoding: 'utf8',
    }).stdout;
  const text = readFileSync(out, 'utf8');
  const meta = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((r) => r.mode === 'meta');
  const summary = summarize(text);
  const svg = curveSvg(text);
  const plot = out.replace(/\.jsonl$/, '.svg');
  if (svg !== undefined) writeFileSync(plot, svg);
  const md = [
    `# Realtime fan-out, ${(meta?.time ?? new Date().toISOString()).slice(0, 10)}` +
      (minutes ? ` (${minutes.toFixed(1)} min)` : ''),
    '',
    summary,
    '',
    ...(svg === undefined ? [] : [`![deliveries/s and p99 against R](${basename(plot)})`, '']),
    '## Harness tables (report.mjs --compact)',
    '',
    report(['--compact']),
    '## Every run (report.mjs)',
    '',
    report([]),
  ].join('\n');
  writeFileSync(out.replace(/\.jsonl$/, '.md'), md);
  console.log(`\n${summary}\n\n[realtime] report -> ${out.replace(/\.jsonl$/, '.md')}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((error) => {
    console.error(error?.stack ?? error);
    killAllNow();
    process.exit(1);
  });
}
