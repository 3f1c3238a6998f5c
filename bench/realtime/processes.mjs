// Processes the realtime benchmarks start (hub servers, the harness, a private
// redis-server), and how they all end: every child tracked, stopped with a grace period,
// and killed on the way out whatever happens.
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { Redis } from 'ioredis';

/** Raises the open-files limit of a child's shell (root may raise the hard limit too). */
export const ulimitTo = (n) => `ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; `;
export const ULIMIT = ulimitTo(20000);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes we start, and how they all end ----------------------------------------------
const started = new Set();
export function track(child) {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}
export async function stopChild(child, signal = 'SIGTERM', graceMs = 6000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if (await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)])) return;
  child.kill('SIGKILL');
  await Promise.race([gone, sleep(2000)]);
}
/** Last resort (exit, signal, time limit): SIGTERM to whatever we started and is still up. */
export function killAllNow() {
  for (const child of started) {
    try {
      child.kill('SIGTERM');
    } catch {}
  }
}

/** Runs `node <script> ...` with the raised fd limit; the pid is node's own (sh execs it). */
export function spawnNode(script, scriptArgs, { cwd, ipc = false, nodeArgs = [], files = 20000 }) {
  return track(
    spawn(
      'sh',
      [
        '-c',
        `${ulimitTo(files)}exec "$0" "$@"`,
        process.execPath,
        ...nodeArgs,
        script,
        ...scriptArgs,
      ],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'inherit', ...(ipc ? ['ipc'] : [])],
      },
    ),
  );
}

export function portAnswers(port) {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (v) => {
      s.destroy();
      res(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(500, () => done(false));
  });
}

export function waitMsg(child, pred, ms, what) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => {
      child.off('message', on);
      rej(new Error(`timeout waiting for ${what}`));
    }, ms);
    const on = (m) => {
      if (pred(m)) {
        clearTimeout(t);
        child.off('message', on);
        res(m);
      }
    };
    child.on('message', on);
  });
}
export const rpc = (child, msg, pred, ms, what) => {
  const p = waitMsg(child, pred, ms, what);
  child.send(msg);
  return p;
};

// ---- Redis of our own ----------------------------------------------------------------------
/**
 * A private redis-server on the first free port from `firstPort` (never 6379). It runs under a
 * small sh watchdog that stops it when we stop the watchdog, when this process is gone, or
 * after `limitS` seconds, whichever comes first.
 */
export async function startRedis(firstPort, limitS) {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  }
  const watchdog =
    'redis-server "$@" & r=$!; trap \'kill $r 2>/dev/null; wait $r; exit 0\' TERM INT; i=0; ' +
    `while [ $i -lt ${Math.ceil(limitS)} ] && kill -0 ${process.pid} 2>/dev/null && kill -0 $r 2>/dev/null; ` +
    'do sleep 1; i=$((i+1)); done; kill $r 2>/dev/null; wait $r';
  for (let port = firstPort; port < firstPort + 20; port++) {
    if (port === 6379 || (await portAnswers(port))) continue;
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ];
    const child = track(
      spawn('sh', ['-c', watchdog, 'sh', ...args], { stdio: ['ignore', 'ignore', 'inherit'] }),
    );
    for (let i = 0; i < 50 && child.exitCode === null; i++) {
      if (await portAnswers(port)) {
        const url = `redis://127.0.0.1:${port}`;
        const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await r.connect();
        const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))?.[1]);
        r.disconnect();
        return { child, port, url, pid };
      }
      await sleep(100);
    }
    await stopChild(child);
  }
  throw new Error(`no free port for redis-server in ${firstPort}..${firstPort + 19}`);
}
