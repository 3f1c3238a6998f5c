import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// What travels with each published package to its npm page: the links to its source, and a
// README whose links work there. Here, since this is the one workspace whose tests see all
// the packages.

const packagesDir = fileURLToPath(new URL('../../../packages/', import.meta.url));
const REPOSITORY = 'git+https://github.com/bancada/bancada.git';
/** What npm puts in every tarball, whatever `files` says. */
const ALWAYS_PACKED = ['package.json', 'README.md', 'LICENSE'];

interface Manifest {
  name: string;
  private?: boolean;
  files?: string[];
  repository?: unknown;
  homepage?: unknown;
  bugs?: unknown;
}

const published = readdirSync(packagesDir)
  .filter((dir) => existsSync(join(packagesDir, dir, 'package.json')))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(readFileSync(join(packagesDir, dir, 'package.json'), 'utf8')) as Manifest,
  }))
  .filter(({ manifest }) => manifest.private !== true);

/** The targets of a README's Markdown links and images that are not absolute URLs or anchors. */
function relativeLinks(readme: string): string[] {
  const targets = [...readme.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
  return targets.filter((target) => !/^([a-z][a-z+.-]*:|#)/i.test(target));
}

/** Whether npm packs `path` (relative to the package), given the package's `files`. */
function isPacked(path: string, files: string[]): boolean {
  if (ALWAYS_PACKED.includes(path)) return true;
  return files.some((entry) => {
    const root = normalize(entry).replace(/\/$/, '');
    return path === root || path.startsWith(`${root}/`);
  });
}

describe('the published packages', () => {
  it('are all here', () => {
    expect(published.map(({ manifest }) => manifest.name)).toEqual(
      expect.arrayContaining([
        '@bancada/cache',
        '@bancada/jobs',
        '@bancada/limits',
        '@bancada/pg-bridge',
        '@bancada/realtime',
        '@bancada/session',
        '@bancada/worker',
      ]),
    );
  });

  it.each(published)(
    '$manifest.name links to its source, its page and its issues',
    ({ dir, manifest }) => {
      expect(manifest.repository).toEqual({
        type: 'git',
        url: REPOSITORY,
        directory: `packages/${dir}`,
      });
      expect(manifest.homepage).toBe(
        `https://github.com/bancada/bancada/tree/main/packages/${dir}#readme`,
      );
      expect(manifest.bugs).toBe('https://github.com/bancada/bancada/issues');
    },
  );

  it.each(published)(
    '$manifest.name links from its README only to files in its tarball',
    ({ dir, manifest }) => {
      const readme = readFileSync(join(packagesDir, dir, 'README.md'), 'utf8');
      // npm resolves a relative link against the repository, at the package's directory: one
      // that leaves the package, or names a file not packed, is a 404 there.
      const broken = relativeLinks(readme)
        .map((target) => normalize(target.replace(/[#?].*$/, '')))
        .filter((path) => {
          if (path.startsWith('..')) return true;
          return !isPacked(path, manifest.files ?? []) || !existsSync(join(packagesDir, dir, path));
        });
      expect(broken).toEqual([]);
    },
  );
});
