import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@bancada/testkit';

/** One `node server.js` of the app, on its own port. */
export interface Instance {
  id: string;
  port: number;
  process: ChildProcess;
  output(): string;
}

/**
 * Starts `count` instances of the app in `dir`, one after the other, each once the one before
 * it listens: the app makes its tables at start (CREATE TABLE IF NOT EXISTS), and two of those
 * at once in Postgres can collide, as a deploy that migrates first never lets them.
 */
export async function startInstances(
  dir: string,
  count: number,
  env: Record<string, string>,
): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (let i = 1; i <= count; i++) {
    const port = await freePort();
    const id = `vendor-app-${i}`;
    const child = spawn(process.execPath, ['server.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env, PORT: String(port), INSTANCE_ID: id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
    });
    child.stderr.on('data', (chunk) => {
      text += chunk;
    });
    const instance: Instance = { id, port, process: child, output: () => text };
    instances.push(instance);
    await waitFor(
      `${id} to listen`,
      () => {
        if (child.exitCode !== null) throw new Error(`${id} exited:\n${text}`);
        return text.includes('vendor dashboard on');
      },
      30_000,
    );
  }
  return instances;
}

export function stopInstances(instances: Instance[]): void {
  for (const { process: child } of instances) if (child.exitCode === null) child.kill('SIGKILL');
}

/** The nginx binary: on the PATH or where Debian puts it; the test fails saying how to get it. */
function nginxBinary(): string {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v']).error === undefined) return candidate;
  }
  throw new Error('nginx is not installed (Debian: apt-get install nginx)');
}

/**
 * nginx on a free port in front of the instances, round robin (so that consecutive requests
 * and connections land on different instances), WebSocket upgrades on exactly /ws. Runs in
 * the foreground from a temporary folder; `stop()` ends it and removes the folder.
 */
export async function behindNginx(
  instances: Instance[],
): Promise<{ url: string; stop(): Promise<void> }> {
  const nginx = nginxBinary();
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'legacy-nginx-'));
  await chmod(dir, 0o755); // its workers run as nobody when we are root
  await mkdir(join(dir, 'temp'));
  const config = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp;
  proxy_temp_path ${dir}/temp;
  upstream app {
${instances.map((i) => `    server 127.0.0.1:${i.port};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    location = /ws {
      proxy_pass http://app/ws;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $http_host;
      proxy_read_timeout 1h;
    }
    location / {
      proxy_pass http://app;
      proxy_set_header Host $http_host;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), config);
  const args = [
    '-c',
    join(dir, 'nginx.conf'),
    '-p',
    `${dir}/`,
    '-e',
    'stderr',
    '-g',
    'daemon off;',
  ];
  const child = spawn(nginx, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk) => {
    errors += chunk;
  });
  await waitFor(
    'nginx to answer',
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited:\n${errors}`);
      return fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      );
    },
    10_000,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGQUIT');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
