import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Bundles a test script and the source it imports into test-output/ (inside the package, so
 * that ioredis resolves from its node_modules). From source rather than dist/, so that the
 * child runs the code as it is now, built or not.
 */
export async function bundleScript(
  entry: string,
): Promise<{ path: string; remove(): Promise<void> }> {
  const outdir = `${packageDir}test-output/child-${process.pid}-${Date.now()}`;
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: { child: `${packageDir}${entry}` },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return {
    path: `${outdir}/child.mjs`,
    remove: () => rm(outdir, { recursive: true, force: true }),
  };
}

/** A node process running `script`, with its output kept and a promise of its end. */
export interface RunningChild {
  process: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runNode(script: string, args: string[]): RunningChild {
  // Only PATH, so that the developer's REDIS_URL and friends do not leak in.
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}
