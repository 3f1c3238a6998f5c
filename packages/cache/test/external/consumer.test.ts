import { usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

const useIt = `
  const cache = createCache({ logger: false, redis: false });
  await cache.set('k', { ok: true });
  const value = await cache.get('k');
  await cache.close();
  console.log(JSON.stringify({ value, middleware: typeof cacheResponse }));
`;
const expected = { value: { ok: true }, middleware: 'function' };

describe('the packed package', () => {
  it('ships only the build, with types for both formats', () => {
    expect(packed().files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.cjs',
        'dist/index.d.ts',
        'dist/index.d.cts',
        'README.md',
      ]),
    );
    expect(packed().files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run(
      'esm.mjs',
      `import { createCache, cacheResponse } from '@bancada/cache';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { createCache, cacheResponse } = require('@bancada/cache');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });
});
