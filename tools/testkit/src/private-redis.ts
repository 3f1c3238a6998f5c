import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './free-port.js';
import { makeCertificates } from './tls-certificates.js';

/** A redis-server of the test's own, to kill and restart at will (never the shared one). */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Pid of the current server process (changes after restart). */
  readonly pid: number;
  readonly isRunning: boolean;
  /** Shuts the server down for good and removes its folder. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the folder stays so `restart()` can use it. Idempotent. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and waits until it answers. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** Its folder (its config, its log, a cluster's nodes.conf). */
  readonly dir: string;
}

const REDIS_SERVER = process.env.REDIS_SERVER_BIN || 'redis-server';
const running = new Set<ChildProcess>();
// A private server must never outlive the test process.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A private Redis that speaks only TLS and lets in one ACL user with a password. */
export interface PrivateTlsRedis extends PrivateRedis {
  /** `rediss://<username>:<password>@127.0.0.1:<port>` */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The PEM certificate of the throw-away authority that signed the server's certificate. */
  readonly ca: string;
  /** The same in a file (for NODE_EXTRA_CA_CERTS), kept until `stop()`. */
  readonly caFile: string;
}

/**
 * Starts a private `redis-server` on a free port of 127.0.0.1, in a fresh temporary folder,
 * keeping nothing on disk unless `args` say otherwise.
 */
export function startRedis(
  options: {
    args?: string[];
    /**
     * A config file's text, written to the server's folder and given first: what must live in
     * a file the server may rewrite (a Sentinel's state). `@PORT@` stands for its port.
     */
    config?: string;
  } = {},
): Promise<PrivateRedis> {
  return launchRedis(options.args ?? [], undefined, options.config);
}

/**
 * Starts a private `redis-server` with TLS only (`--tls-port`; the plain port is off), its
 * certificate for 127.0.0.1 signed by a certificate authority made for it alone (openssl), and
 * one ACL user, `bancada`, with a random password (the default user is off), as a hosted
 * Redis gives it: connect with `url` and `tls: { ca }`.
 */
export async function startTlsRedis(): Promise<PrivateTlsRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'bancada-redis-tls-'));
  try {
    const certs = await makeCertificates(dir);
    const username = 'bancada';
    const password = randomBytes(12).toString('hex');
    const server = await launchRedis(
      [
        '--tls-cert-file',
        certs.certFile,
        '--tls-key-file',
        certs.keyFile,
        '--tls-ca-cert-file',
        certs.caFile,
        '--tls-auth-clients',
        'no',
        '--user',
        'default',
        'off',
        '--user',
        username,
        'on',
        `>${password}`,
        '~*',
        '&*',
        '+@all',
      ],
      { tls: { ca: certs.ca }, username, password },
    );
    const stop = server.stop;
    return Object.assign(server, {
      url: `rediss://${username}:${password}@127.0.0.1:${server.port}`,
      username,
      password,
      ca: certs.ca,
      caFile: certs.caFile,
      async stop() {
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `connect`: how to reach it (TLS and credentials); the plain port is then off. */
async function launchRedis(
  extraArgs: string[],
  connect?: RedisOptions,
  config?: string,
): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'bancada-redis-'));
  const port = await freePort();
  const configFile: string[] = [];
  if (config !== undefined) {
    const file = join(dir, 'redis.conf');
    await writeFile(file, config.replaceAll('@PORT@', String(port)));
    configFile.push(file);
  }
  const args = [
    ...configFile,
    ...(connect?.tls ? ['--port', '0', '--tls-port'] : ['--port']),
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    join(dir, 'redis.log'),
    ...extraArgs,
  ];
  let child: ChildProcess | undefined;
  let removed = false;

  const launch = async () => {
    let lastError: unknown;
    // Right after a kill the port can be briefly unavailable: try a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const started = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
      running.add(started);
      started.once('exit', () => running.delete(started));
      let spawnError: Error | undefined;
      started.once('error', (error) => {
        spawnError = error;
      });
      try {
        await waitUntilAnswers(port, started, 10_000, () => spawnError, connect);
        child = started;
        return;
      } catch (error) {
        lastError = error;
        if (spawnError) break; // redis-server is not installed: retrying will not help
        started.kill('SIGKILL');
        await exited(started);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '');
    throw new Error(
      `could not start ${REDIS_SERVER} on port ${port}: ${(lastError as Error).message}. ` +
        'Install it (Debian: apt-get install redis-server) or set REDIS_SERVER_BIN.\n' +
        `last lines of its log:\n${log.split('\n').slice(-10).join('\n')}`,
    );
  };

  const killNow = async (signal: NodeJS.Signals) => {
    const current = child;
    child = undefined;
    if (current && current.exitCode === null && current.signalCode === null) {
      current.kill(signal);
      await exited(current);
    }
  };

  await launch();
  const server: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    get isRunning() {
      return child !== undefined;
    },
    async stop() {
      await killNow('SIGTERM');
      if (!removed) {
        removed = true;
        await rm(dir, { recursive: true, force: true });
      }
    },
    kill: () => killNow('SIGKILL'),
    async restart() {
      if (removed) throw new Error('this private Redis was stopped for good; start a new one');
      await killNow('SIGKILL');
      await launch();
    },
    [Symbol.asyncDispose]: () => server.stop(),
  };
  return server;
}

async function waitUntilAnswers(
  port: number,
  child: ChildProcess,
  timeoutMs: number,
  spawnError: () => Error | undefined,
  connect: RedisOptions = {},
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const error = spawnError();
    if (error) throw error;
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const client = new Redis(port, '127.0.0.1', {
      ...connect,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
