import { usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

const useIt = `
  const sessions = createSession({ dataDir: 'memory://', secret: 'x'.repeat(32), logger: false });
  await sessions.ready;
  const authenticate = sessionAuthenticator(sessions);
  const principal = await authenticate({ headers: {}, url: '/', method: 'GET', socket: {} });
  await sessions.close();
  console.log(JSON.stringify({ mode: sessions.mode, principal, login: typeof login }));
`;
const expected = { mode: 'embedded', principal: null, login: 'function' };

describe('the packed package', () => {
  it('ships only the build', () => {
    expect(packed().files).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'README.md']),
    );
    expect(packed().files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('works with import (ESM), embedded Postgres included', () => {
    const out = packed().run(
      'esm.mjs',
      `import { createSession, sessionAuthenticator, login } from '@bancada/session';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { createSession, sessionAuthenticator, login } = require('@bancada/session');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });
});
