// What the cluster runs that is not ours (nginx, redis-server): found on this machine, or
// installed with apt-get when the caller allows it.
import { spawnSync } from 'node:child_process';

/** Thrown when something the cluster needs is not on this machine; the message says how to get it. */
export class ClusterSetupError extends Error {
  name = 'ClusterSetupError';
}

/**
 * The path of `command` if it runs; `override` (an environment variable's value) replaces the
 * search when set.
 * @param {string} command
 * @param {string | undefined} [override]
 */
export function findCommand(command, override) {
  // /usr/sbin is not on every user's PATH, and that is where Debian puts nginx.
  const candidates = override
    ? [override]
    : [command, `/usr/sbin/${command}`, `/usr/bin/${command}`];
  for (const candidate of candidates) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  return undefined;
}

/**
 * `apt-get install -y <pkg>`, printed first; as root, or through `sudo -n` when that needs no
 * password. Debian's nginx package may also start the system's own nginx service on port 80
 * (`service nginx stop` stops it); the cluster never uses it.
 * @param {string} pkg
 */
export function aptInstall(pkg) {
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if ((!root && !sudo) || findCommand('apt-get') === undefined) {
    throw new ClusterSetupError(
      `${pkg} is not installed, and this script cannot install it here. Install it ` +
        `(Debian/Ubuntu: sudo apt-get install ${pkg}; macOS: brew install ${pkg}) and run again.`,
    );
  }
  const prefix = sudo ? ['sudo', '-n'] : [];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', pkg],
  ]) {
    const command = [...prefix, ...args];
    console.log(`cluster: ${pkg} is missing; running: ${command.join(' ')}`);
    const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    if (result.status !== 0) {
      throw new ClusterSetupError(`${command.join(' ')} failed (exit ${result.status})`);
    }
  }
}

/**
 * The nginx binary: NGINX_BIN, else nginx on the PATH or in /usr/sbin. Missing: installed with
 * apt-get when `install` is true (and NGINX_BIN unset), otherwise a ClusterSetupError saying
 * `apt-get install nginx`.
 * @param {{ install?: boolean }} [options]
 */
export function findNginx({ install = false } = {}) {
  let nginx = findCommand('nginx', process.env.NGINX_BIN);
  if (nginx === undefined && install && !process.env.NGINX_BIN) {
    aptInstall('nginx');
    nginx = findCommand('nginx');
  }
  if (nginx === undefined) {
    const where = process.env.NGINX_BIN ? ` (NGINX_BIN=${process.env.NGINX_BIN} does not run)` : '';
    throw new ClusterSetupError(
      `nginx is not installed${where}. The cluster runs the PDV app behind nginx: ` +
        'apt-get install nginx (Debian/Ubuntu; sudo if not root), then run again.',
    );
  }
  return nginx;
}
