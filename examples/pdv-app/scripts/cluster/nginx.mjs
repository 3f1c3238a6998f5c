// nginx in front of the instances: its config from deploy/nginx.cluster.conf.template, run in
// the foreground from a temporary folder, so the system's nginx is neither read nor touched.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, stopChild } from './processes.mjs';

const TEMPLATE = fileURLToPath(
  new URL('../../deploy/nginx.cluster.conf.template', import.meta.url),
);

/** The template's balancing line, and the commented alternative that `byRestaurant` uses. */
const BY_CLIENT = '        ip_hash;\n';
const BY_RESTAURANT = '        # hash $cookie_pdv_restaurant consistent;\n';

/**
 * The nginx.conf for the cluster: deploy/nginx.cluster.conf.template with its @NAME@ values,
 * and with `byRestaurant` its commented alternative to ip_hash in place of ip_hash.
 * @param {{ port: number, instances: Array<{ id: string, port: number }>, byRestaurant?: boolean }} options
 */
export async function renderNginxConfig({ port, instances, byRestaurant = false }) {
  let template = await readFile(TEMPLATE, 'utf8');
  if (byRestaurant) {
    if (!template.includes(BY_CLIENT) || !template.includes(BY_RESTAURANT)) {
      throw new Error('nginx template: the ip_hash line or its commented alternative is gone');
    }
    template = template
      .replace(BY_CLIENT, '')
      .replace(BY_RESTAURANT, BY_RESTAURANT.replace('# ', ''));
  }
  const values = {
    LISTEN: `127.0.0.1:${port}`,
    UPSTREAM_SERVERS: instances
      .map(({ id, port }) => `        server 127.0.0.1:${port}; # ${id}`)
      .join('\n'),
    INSTANCE_HEALTH_LOCATIONS: instances
      .map(({ id, port }) =>
        [
          `        location = /_cluster/${id}/health {`,
          '            allow 127.0.0.0/8;',
          '            deny all;',
          `            proxy_pass http://127.0.0.1:${port}/health;`,
          '        }',
        ].join('\n'),
      )
      .join('\n'),
  };
  const config = template.replace(/@([A-Z_]+)@/g, (whole, name) => {
    if (!(name in values)) throw new Error(`nginx template: unknown placeholder ${whole}`);
    return values[name];
  });
  return config;
}

/**
 * `-e stderr` (nginx 1.19.5 and later) keeps nginx from opening its compiled-in error log
 * (/var/log/nginx/error.log) before it reads our config: an alert when not root.
 * @param {string} nginx
 */
function errorLogFlag(nginx) {
  const version = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(
    spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr,
  );
  const [major, minor, patch] = (version?.slice(1) ?? []).map(Number);
  const recent = major > 1 || (major === 1 && (minor > 19 || (minor === 19 && patch >= 5)));
  return recent ? ['-e', 'stderr'] : [];
}

/**
 * Writes `config` into a fresh temporary folder and runs nginx on it in the foreground.
 * `nginx -t` first, so a bad config fails with nginx's own message.
 * @param {{ nginx: string, config: string, log: (name: string, line: string) => void }} options
 */
export async function startNginx({ nginx, config, log }) {
  const dir = await mkdtemp(join(tmpdir(), 'pdv-nginx-'));
  // Run as root, nginx's workers switch to `nobody`: they must be able to enter the folder.
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'temp'));
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  const args = ['-c', file, '-p', `${dir}/`, ...errorLogFlag(nginx), '-g', 'daemon off;'];
  const check = spawnSync(nginx, [...args, '-t'], { encoding: 'utf8' });
  if (check.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`nginx -t refused the generated config (${file}):\n${check.stderr}`);
  }
  const proc = startChild('nginx', nginx, args, { log });
  return {
    ...proc,
    dir,
    async stop() {
      // SIGQUIT: graceful (finish what is in flight); SIGTERM would be nginx's fast stop.
      await stopChild(proc, 'SIGQUIT', 10_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
