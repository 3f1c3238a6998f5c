import { existsSync } from 'node:fs';
import { BUILD_FILES, unbuiltFiles, usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

// No Redis: the job runs here, once at start, and stops cleanly.
const useIt = `
  let refused;
  try { everyOnce('sweep', 10); } catch (error) { refused = error.code; }
  let ran;
  const first = new Promise((resolve) => { ran = resolve; });
  const job = everyOnce('sweep', 60_000, (signal) => ran(signal instanceof AbortSignal), {
    redis: false,
    logger: false,
  });
  const gotSignal = await first;
  await job.stop();
  const { mode, runs, failures } = job.stats();
  console.log(JSON.stringify({ refused, gotSignal, mode, runs, failures }));
`;
const expected = {
  refused: 'BANCADA_JOBS_INVALID_OPTION',
  gotSignal: true,
  mode: 'local',
  runs: 1,
  failures: 0,
};

describe('the packed package', () => {
  it('ships only the build', () => {
    expect(packed().files).toEqual(expect.arrayContaining([...BUILD_FILES]));
    expect(unbuiltFiles(packed().files)).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run('esm.mjs', `import { everyOnce } from '@bancada/jobs';\n${useIt}`);
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { everyOnce } = require('@bancada/jobs');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('installs ioredis with it, and nothing of the rest of the kit', () => {
    const project = packed().run('where.cjs', 'console.log(process.cwd())').trim();
    expect(existsSync(`${project}/node_modules/ioredis`)).toBe(true);
    expect(existsSync(`${project}/node_modules/@bancada/internal`)).toBe(false);
  });
});
