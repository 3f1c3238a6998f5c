import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

/** What every package's tarball holds: its build in both formats, with types, and its README. */
export const BUILD_FILES: readonly string[] = [
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  'README.md',
];

/** The files of a tarball that are sources or tests, which a package must not ship. */
export function unbuiltFiles(files: readonly string[]): string[] {
  return files.filter((file) => file.startsWith('src/') || file.startsWith('test/'));
}

/** A package as a user gets it: packed, and installed from the tarball in an empty project. */
export interface PackedPackage {
  /** Paths in the tarball, as `npm pack` lists them. */
  readonly files: string[];
  /**
   * Writes `source` to `fileName` in the project, runs it with node (with `env` added to the
   * environment; at most a minute), returns its stdout.
   */
  run(fileName: string, source: string, env?: Record<string, string>): string;
  /** Installs more packages from the registry into the project (what a README example needs). */
  install(...packages: string[]): void;
  remove(): void;
}

function exec(
  command: string,
  args: string[],
  cwd: string,
  { env = {}, timeoutMs }: { env?: Record<string, string>; timeoutMs?: number } = {},
): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    timeout: timeoutMs,
  });
}

/** Packs the package in `packageDir` (built first) and installs it in a fresh temp project. */
export function installPacked(packageDir: string): PackedPackage {
  const project = mkdtempSync(join(tmpdir(), 'bancada-consumer-'));
  const packed = JSON.parse(
    exec('npm', ['pack', '--json', '--pack-destination', project], packageDir),
  );
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  exec(
    'npm',
    ['install', join(project, packed[0].filename), '--no-audit', '--no-fund', '--prefer-offline'],
    project,
  );
  return {
    files: packed[0].files.map((file: { path: string }) => file.path),
    run(fileName, source, env = {}) {
      writeFileSync(join(project, fileName), source);
      return exec('node', [fileName], project, { env, timeoutMs: 60_000 });
    },
    install(...packages) {
      exec('npm', ['install', ...packages, '--no-audit', '--no-fund', '--prefer-offline'], project);
    },
    remove: () => rmSync(project, { recursive: true, force: true }),
  };
}

/**
 * For a consumer test file in `<package>/test/external/`: packs and installs the package
 * before the file's tests, removes the project after. Returns a getter for it.
 */
export function usePackedPackage(testFileUrl: string): () => PackedPackage {
  let packed: PackedPackage | undefined;
  beforeAll(() => {
    packed = installPacked(fileURLToPath(new URL('../..', testFileUrl)));
  }, 180_000);
  afterAll(() => packed?.remove());
  return () => {
    if (!packed) throw new Error('the package was not installed (beforeAll failed)');
    return packed;
  };
}
