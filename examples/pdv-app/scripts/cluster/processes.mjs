// Child processes for the cluster: named, output prefixed line by line, never outliving us;
// and the ports they listen on.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const running = new Set();
// Last resort when this process exits without stop() (an uncaught error): no orphan keeps a port.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Writes a child's output line by line. Instances log pino JSON: shown as `level: msg`.
 * @param {string} name
 * @param {string} line
 */
export function printLine(name, line) {
  let text = line;
  if (line.startsWith('{')) {
    try {
      const entry = JSON.parse(line);
      const level = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }[entry.level] ?? 'log';
      text = `${level}: ${entry.msg}`;
    } catch {}
  }
  process.stdout.write(`[${name}] ${text}\n`);
}

/**
 * Spawns a named child whose stdout and stderr go to `log` line by line; the last 30 lines are
 * kept for error messages.
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, log: (name: string, line: string) => void }} options
 */
export function startChild(name, command, args, { cwd, env, log }) {
  // Its own process group: Ctrl-C in the terminal reaches only us, and we stop the children in
  // order (instances drain through nginx, then nginx) rather than all at once.
  const child = spawn(command, args, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const tail = [];
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      running.delete(child);
      tail.push(error.message);
      resolve({ code: null, signal: null, error });
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      log(name, line);
    });
  }
  return { name, child, exited, tail };
}

/** Signals a child, then SIGKILL if it is still there after `graceMs`. */
export async function stopChild({ child, exited }, signal, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null || !running.has(child)) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A TCP port of 127.0.0.1 that nothing listens on now (the OS picks it). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** @param {number} port */
export function portAnswers(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(500, () => done(false));
  });
}
