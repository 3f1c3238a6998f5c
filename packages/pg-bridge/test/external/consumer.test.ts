import { existsSync } from 'node:fs';
import { BUILD_FILES, unbuiltFiles, usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

// A database nobody listens on: the bridge starts, keeps trying, and closes cleanly.
const useIt = `
  let refused;
  try { createPgBridge({}); } catch (error) { refused = error.code; }
  const bridge = createPgBridge({
    hub: { publish() {} },
    channels: { ticket_updates: (payload) => ({ room: 'restaurant:1', event: { eventType: 'x', payload } }) },
    connectionString: 'postgres://nobody@127.0.0.1:1/none',
    redis: false,
    logger: false,
  });
  const { mode, leader } = bridge.stats();
  await bridge.close();
  console.log(JSON.stringify({ refused, mode, leader }));
`;
const expected = { refused: 'BANCADA_PG_BRIDGE_INVALID_OPTION', mode: 'single', leader: true };

describe('the packed package', () => {
  it('ships only the build', () => {
    expect(packed().files).toEqual(expect.arrayContaining([...BUILD_FILES]));
    expect(unbuiltFiles(packed().files)).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run(
      'esm.mjs',
      `import { createPgBridge } from '@bancada/pg-bridge';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { createPgBridge } = require('@bancada/pg-bridge');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('installs pg with it, and no hub', () => {
    const project = packed().run('where.cjs', 'console.log(process.cwd())').trim();
    expect(existsSync(`${project}/node_modules/pg`)).toBe(true);
    expect(existsSync(`${project}/node_modules/@bancada/realtime`)).toBe(false);
  });
});
