import { usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

const useIt = `
  const gate = connectionLimit({ redis: false, logger: false, maxPerIp: 1 });
  const req = { headers: {}, socket: { remoteAddress: '192.0.2.1' } };
  const first = await gate.acquire(req);
  const second = await gate.acquire(req);
  await gate.close();
  console.log(JSON.stringify({ first: isRejection(first), second: second.status, rateLimit: typeof rateLimit }));
`;
const expected = { first: false, second: 429, rateLimit: 'function' };

describe('the packed package', () => {
  it('ships only the build', () => {
    expect(packed().files).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'README.md']),
    );
    expect(packed().files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run(
      'esm.mjs',
      `import { connectionLimit, isRejection, rateLimit } from '@bancada/limits';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { connectionLimit, isRejection, rateLimit } = require('@bancada/limits');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });
});
