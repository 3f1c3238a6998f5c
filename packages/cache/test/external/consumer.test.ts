import { readFileSync } from 'node:fs';
import { cleanupPrefix, keyPrefix, redisUrl, usePackedPackage } from '@bancada/testkit';
import { Redis } from 'ioredis';
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

const useKeyv = `
  const store = createKeyvStore({ logger: false, redis: false });
  await store.set('k', 'v', 60000);
  const value = await store.get('k');
  const refused = await store.set('k', 'v', -1).catch((error) => error);
  await store.disconnect();
  console.log(JSON.stringify({ value, same: refused instanceof main.CacheArgumentError }));
`;

/** The README's cache-manager example, as pasted. */
function readmeKeyvExample(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Keyv, cache-manager and NestJS'));
  const block = /```js\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('the README has no cache-manager example');
  return block[1]!;
}

describe('the packed package', () => {
  it('ships only the build, with types for both formats and both entry points', () => {
    expect(packed().files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.cjs',
        'dist/index.d.ts',
        'dist/index.d.cts',
        'dist/keyv.js',
        'dist/keyv.cjs',
        'dist/keyv.d.ts',
        'dist/keyv.d.cts',
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

  it('serves the Keyv store at @bancada/cache/keyv, with import and require alike', () => {
    const esm = packed().run(
      'keyv.mjs',
      `import * as main from '@bancada/cache';\nimport { createKeyvStore } from '@bancada/cache/keyv';\n${useKeyv}`,
    );
    const cjs = packed().run(
      'keyv.cjs',
      `const main = require('@bancada/cache');\nconst { createKeyvStore } = require('@bancada/cache/keyv');\n(async () => {${useKeyv}})();`,
    );
    // One copy of the error classes in both formats: the store's errors are the main entry's.
    expect(JSON.parse(esm)).toEqual({ value: 'v', same: true });
    expect(JSON.parse(cjs)).toEqual({ value: 'v', same: true });
  });

  it("runs the README's cache-manager example as pasted, on Redis", async () => {
    packed().install('cache-manager@7', 'keyv@5');
    const url = await redisUrl();
    const prefix = keyPrefix('readme-keyv');
    try {
      const example = readmeKeyvExample().replace("'myapp:cache:'", `'${prefix}'`);
      const out = packed().run('readme-keyv.mjs', example, { REDIS_URL: url });
      expect(out).toContain("{ items: [ 'coxinha', 'pão de queijo' ] } { tables: 12 }");
      const redis = new Redis(url);
      try {
        expect(JSON.parse((await redis.get(`${prefix}pdv:menu:1`)) ?? 'null')).toEqual(
          expect.stringContaining('coxinha'),
        );
        expect(await redis.pttl(`${prefix}pdv:menu:1`)).toBeGreaterThan(50_000);
      } finally {
        redis.disconnect();
      }
    } finally {
      await cleanupPrefix(url, prefix);
    }
  });
});
