import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { build, type Plugin } from 'esbuild';

/** Scripts bundled for a child process, and the folder they live in. */
export interface BundledScripts {
  /** The path of each bundled script, by the name it was given. */
  readonly paths: Record<string, string>;
  remove(): Promise<void>;
}

/**
 * Keeps third-party packages external (they resolve from the package's node_modules) and
 * bundles the project's own source, `@bancada/internal` included, as a user's build would.
 * `sources` names packages of the project to bundle from their source too (name -> entry file).
 */
function ownSourceInline(sources: Record<string, string>): Plugin {
  return {
    name: 'own-source-inline',
    setup(builder) {
      builder.onResolve({ filter: /^[^./]/ }, (args) => {
        if (Object.hasOwn(sources, args.path)) return { path: sources[args.path]! };
        return args.path.startsWith('@bancada/internal')
          ? undefined
          : { path: args.path, external: true };
      });
    },
  };
}

/**
 * Bundles `entries` (name -> path under `packageDir`) from source into
 * `<packageDir>test-output/`, so that a child process runs the code as it is now, built or
 * not. `sources` maps packages that the entries import by name (`@bancada/session`) to the
 * absolute path of their source entry, so that they run as they are now too. Returns where
 * each landed.
 */
export async function bundleScripts(
  packageDir: string,
  entries: Record<string, string>,
  { sources = {} }: { sources?: Record<string, string> } = {},
): Promise<BundledScripts> {
  const dir = packageDir.endsWith('/') ? packageDir : `${packageDir}/`;
  const outdir = `${dir}test-output/child-${process.pid}-${Date.now()}`;
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: Object.fromEntries(
      Object.entries(entries).map(([name, path]) => [name, `${dir}${path}`]),
    ),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [ownSourceInline(sources)],
    logLevel: 'silent',
  });
  return {
    paths: Object.fromEntries(Object.keys(entries).map((name) => [name, `${outdir}/${name}.mjs`])),
    remove: () => rm(outdir, { recursive: true, force: true }),
  };
}

/** A node process with its output kept, and a promise of how it ended. */
export interface RunningProcess {
  process: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `script` with node. The environment is only PATH and `env`, so that the developer's
 * REDIS_URL and friends do not leak in. With `fileLimit`, under `ulimit -n`.
 */
export function runNode(
  script: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
  { fileLimit, ipc = false }: { fileLimit?: number; ipc?: boolean } = {},
): RunningProcess {
  const stdio: Array<'ignore' | 'pipe' | 'ipc'> = ['ignore', 'pipe', 'pipe'];
  if (ipc) stdio.push('ipc');
  const options = { env: { PATH: process.env.PATH, ...env }, stdio };
  const child =
    fileLimit === undefined
      ? spawn(process.execPath, [script, ...args], options)
      : spawn(
          'sh',
          ['-c', `ulimit -n ${fileLimit} && exec "$@"`, 'sh', process.execPath, script, ...args],
          options,
        );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
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
