// startCluster: the app's instances on one Redis and one Postgres, and nginx in front of them.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderNginxConfig, startNginx } from './nginx.mjs';
import { ClusterSetupError, findNginx } from './packages.mjs';
import { portAnswers, printLine, running, sleep, startChild, stopChild } from './processes.mjs';

const APP_DIR = fileURLToPath(new URL('../..', import.meta.url));
const REPO_ROOT = join(APP_DIR, '..', '..');
const SERVER_JS = join(APP_DIR, 'dist', 'server.js');

// ---- the app's build -----------------------------------------------------------------------------

/** Newest modification time of the files under `dir`, in ms. */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/**
 * Builds the app and the packages it imports, as `npm start` does (turbo skips what is up to
 * date). A ClusterSetupError if the build fails.
 */
export function buildApp() {
  const result = spawnSync(
    'npx',
    ['turbo', 'run', 'build', '--filter=@bancada/pdv-app...', '--output-logs=errors-only'],
    { cwd: REPO_ROOT, stdio: 'inherit' },
  );
  if (result.status !== 0 || !existsSync(SERVER_JS)) {
    throw new ClusterSetupError('the build failed; the cluster runs dist/server.js');
  }
}

/**
 * Builds the app when dist/server.js is missing; warns when src/ changed after the last build
 * (startCluster runs what is built; `npm run cluster` builds first).
 * @param {(name: string, line: string) => void} [log]
 */
export function ensureBuilt(log = printLine) {
  if (!existsSync(SERVER_JS)) {
    log('cluster', `${SERVER_JS} is missing; building it`);
    buildApp();
  } else if (newestMtime(join(APP_DIR, 'src')) > statSync(SERVER_JS).mtimeMs) {
    log('cluster', 'warning: src/ changed since the last build; run npm run build to use it');
  }
}

// ---- the cluster ---------------------------------------------------------------------------------

/**
 * GET `url` as JSON, or undefined when nothing answers in time.
 * @param {string} url
 */
export async function getJson(url, timeoutMs = 2000) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}

/**
 * Polls `url` (an instance's /health) until it answers 200 with status ok; fails early if
 * `proc` exits, with its last lines.
 */
async function waitHealthy(url, proc, timeoutMs, expectInstance) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (proc && !running.has(proc.child)) {
      throw new Error(`${proc.name} exited while starting:\n${proc.tail.join('\n')}`);
    }
    last = await getJson(url, 1000);
    const ok = last?.status === 200 && last.body.status === 'ok';
    if (ok && (expectInstance === undefined || last.body.instance === expectInstance)) return;
    await sleep(100);
  }
  const seen = last ? `${last.status} ${JSON.stringify(last.body)}` : 'no answer';
  const tail = proc ? `\nlast lines of ${proc.name}:\n${proc.tail.join('\n')}` : '';
  throw new Error(`${url} was not healthy within ${timeoutMs} ms (${seen})${tail}`);
}

/**
 * @param {{ id: string, port: number, env: NodeJS.ProcessEnv, log: (name: string, line: string) => void }} options
 */
function startInstance({ id, port, env, log }) {
  const proc = startChild(id, process.execPath, [SERVER_JS], {
    cwd: APP_DIR,
    env: { ...env, INSTANCE_ID: id, PORT: String(port) },
    log,
  });
  return {
    ...proc,
    id,
    port,
    url: `http://127.0.0.1:${port}`,
    pid: proc.child.pid,
    // The app drains on SIGTERM (15 s at most, then exits by itself).
    stop: () => stopChild(proc, 'SIGTERM', 20_000),
  };
}

/**
 * Starts `instancePorts.length` instances (pdv-1, pdv-2, ...) of dist/server.js on one Redis and
 * one Postgres, then nginx on 127.0.0.1:`port` in front of them, and resolves once every
 * instance answers /health, directly and through nginx. On failure, stops what it started.
 *
 * @param {{
 *   redisUrl: string,
 *   databaseUrl: string,
 *   port?: number,
 *   instancePorts?: number[],
 *   installNginx?: boolean,
 *   sessionSecret?: string,
 *   byRestaurant?: boolean,
 *   env?: NodeJS.ProcessEnv,
 *   log?: (name: string, line: string) => void,
 *   startTimeoutMs?: number,
 * }} options
 *   `port` default 8080; `instancePorts` default [3101, 3102, 3103]; `installNginx` (apt-get
 *   when missing) default false; `sessionSecret` default a random one per call; `byRestaurant`
 *   (nginx hashes on the restaurant, not the client address) default false; `env` extra
 *   variables for the instances; `log` default prefixed lines on stdout.
 */
export async function startCluster(options) {
  const {
    redisUrl,
    databaseUrl,
    port = 8080,
    instancePorts = [3101, 3102, 3103],
    installNginx = false,
    sessionSecret = randomBytes(32).toString('hex'),
    byRestaurant = false,
    log = printLine,
    startTimeoutMs = 60_000,
  } = options;
  const nginx = findNginx({ install: installNginx });
  for (const p of [port, ...instancePorts]) {
    if (await portAnswers(p)) throw new ClusterSetupError(`port ${p} of 127.0.0.1 is in use`);
  }
  ensureBuilt(log);

  const env = {
    ...process.env,
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    // The same on every instance: a cookie signed by one must verify on the others.
    SESSION_SECRET: sessionSecret,
    // Only nginx's address is trusted to say who the client is: the instances listen on every
    // interface, and a client reaching one directly must not pick its IP with X-Forwarded-For.
    TRUST_PROXY: '127.0.0.1',
    BANCADA_FANOUT: process.env.BANCADA_FANOUT || 'on',
    ...options.env,
  };
  /** @type {Array<ReturnType<typeof startInstance>>} */
  const instances = [];
  /** @type {Awaited<ReturnType<typeof startNginx>> | undefined} */
  let proxy;
  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      // Instances first: they tell their WebSocket and SSE clients to come back later, through
      // nginx, which is still there to pass that on.
      await Promise.all(instances.map((instance) => instance.stop()));
      await proxy?.stop();
    })();
    return stopping;
  };

  try {
    instancePorts.forEach((p, i) => {
      instances.push(startInstance({ id: `pdv-${i + 1}`, port: p, env, log }));
    });
    // One after the other would be slower: they take turns at the migration lock anyway.
    await Promise.all(
      instances.map((i) => waitHealthy(`${i.url}/health`, i, startTimeoutMs, i.id)),
    );
    const config = await renderNginxConfig({ port, instances, byRestaurant });
    proxy = await startNginx({ nginx, config, log });
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(`${url}/health`, proxy, 10_000);
    for (const instance of instances) {
      await waitHealthy(`${url}/_cluster/${instance.id}/health`, proxy, 10_000, instance.id);
    }
    return {
      url,
      instances: instances.map(({ id, port, url, pid }) => ({ id, port, url, pid })),
      nginx: { pid: proxy.child.pid, dir: proxy.dir, config },
      sessionSecret,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
