import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { BUILD_FILES, unbuiltFiles, usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require. Needs a build first (turbo runs it).
const packed = usePackedPackage(import.meta.url);

const useIt = `
  const { createServer } = require('node:http');
  const hub = createHub({ authenticate: false, redis: false, logger: false });
  const server = createServer();
  hub.attach(server, { path: '/ws' });
  const sent = await hub.toRestaurant('a', { eventType: 'order-created', payload: { n: 1 } });
  await hub.close();
  // Tokens load jose (ESM only) on first use, from either format.
  const secret = 'a consumer secret of 32 characters';
  const token = await signToken({ id: 1, restaurantId: 'a' }, { secret });
  const principal = await tokenAuthenticator({ secret })({ url: '/ws?token=' + token, headers: {} });
  console.log(JSON.stringify({ room: sent.room, sse: typeof hub.sse(), room2: restaurantRoom(7), principal }));
`;
const expected = {
  room: 'restaurant:a',
  sse: 'function',
  room2: 'restaurant:7',
  principal: { id: 1, restaurantId: 'a' },
};

describe('the packed package', () => {
  it('ships only the build, with types for both formats', () => {
    expect(packed().files).toEqual(
      expect.arrayContaining([
        ...BUILD_FILES,
        'dist/client.js',
        'dist/client.cjs',
        'dist/client.d.ts',
      ]),
    );
    expect(unbuiltFiles(packed().files)).toEqual([]);
    // The persistence worker and its command are @bancada/worker's.
    expect(packed().files.filter((f) => f.includes('worker'))).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run(
      'esm.mjs',
      `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n` +
        `import { createHub, restaurantRoom, signToken, tokenAuthenticator } from '@bancada/realtime';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { createHub, restaurantRoom, signToken, tokenAuthenticator } = require('@bancada/realtime');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('has a client SDK entry that loads in both formats', () => {
    const esm = packed().run(
      'client.mjs',
      "import { connect } from '@bancada/realtime/client';\nconsole.log(typeof connect);",
    );
    const cjs = packed().run(
      'client.cjs',
      "const { connect } = require('@bancada/realtime/client');\nconsole.log(typeof connect);",
    );
    expect([esm.trim(), cjs.trim()]).toEqual(['function', 'function']);
  });

  it('installs no pg: the NOTIFY bridge and the worker are packages of their own', () => {
    const project = packed().run('where.cjs', 'console.log(process.cwd())').trim();
    expect(existsSync(`${project}/node_modules/ws`)).toBe(true);
    expect(existsSync(`${project}/node_modules/jose`)).toBe(true);
    expect(existsSync(`${project}/node_modules/pg`)).toBe(false);
  });

  it('records no trace context when the app registered no OpenTelemetry SDK', () => {
    const out = packed().run(
      'no-sdk.cjs',
      `const { createHub } = require('@bancada/realtime');
      (async () => {
        const hub = createHub({ authenticate: false, redis: false, logger: false });
        const sent = await hub.publish('r', { eventType: 'x' });
        await hub.close();
        console.log(JSON.stringify({ traceparent: sent.traceparent ?? null }));
      })();`,
    );
    expect(JSON.parse(out)).toEqual({ traceparent: null });
  });

  it('works without @opentelemetry/api (as where only its own dependencies are visible), and tracing: true says it is missing', () => {
    // npm installs it for prom-client, where the hub finds it too; a stricter layout (pnpm)
    // keeps it prom-client's alone, as this move does.
    const project = packed().run('where.cjs', 'console.log(process.cwd())').trim();
    const api = `${project}/node_modules/@opentelemetry/api`;
    const promClients = `${project}/node_modules/prom-client/node_modules/@opentelemetry`;
    mkdirSync(promClients, { recursive: true });
    renameSync(api, `${promClients}/api`);
    try {
      const out = packed().run(
        'no-otel.cjs',
        `const { createHub } = require('@bancada/realtime');
        (async () => {
          const hub = createHub({ authenticate: false, redis: false, logger: false });
          const sent = await hub.publish('r', { eventType: 'x' });
          await hub.close();
          try { createHub({ authenticate: false, redis: false, logger: false, tracing: true }); }
          catch (error) { console.log(JSON.stringify({ room: sent.room, error: error.message })); }
        })();`,
      );
      expect(JSON.parse(out)).toEqual({
        room: 'r',
        error: expect.stringContaining('tracing: true needs @opentelemetry/api installed'),
      });
    } finally {
      renameSync(`${promClients}/api`, api);
    }
  });
});
