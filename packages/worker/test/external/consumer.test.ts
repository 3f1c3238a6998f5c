import { BUILD_FILES, unbuiltFiles, usePackedPackage } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';

// The package as a user gets it: packed, installed in an empty project, loaded with
// import and with require, its command run from the project. Needs a build first (turbo
// runs it). Nothing here connects: a worker that is not started opens no connection.
const packed = usePackedPackage(import.meta.url);

const useIt = `
  const worker = createPersistenceWorker({
    redis: 'redis://127.0.0.1:6379',
    connectionString: 'postgres://app@127.0.0.1/app',
    stream: 'realtime:events',
    logger: false,
  });
  const { stream, table, running } = worker.stats();
  await worker.close();
  let refused;
  try {
    createPersistenceWorker({ stream: 's', redis: 'localhost:6379' });
  } catch (error) {
    refused = { name: error.name, code: error.code, typeError: error instanceof TypeError };
  }
  console.log(JSON.stringify({ stream, table, running, refused }));
`;
const expected = {
  stream: 'realtime:events',
  table: 'realtime_events',
  running: false,
  refused: { name: 'WorkerOptionError', code: 'BANCADA_WORKER_INVALID_OPTION', typeError: true },
};

describe('the packed package', () => {
  it('ships only the build, with types for both formats and the command', () => {
    expect(packed().files).toEqual(expect.arrayContaining([...BUILD_FILES, 'dist/cli.js']));
    expect(unbuiltFiles(packed().files)).toEqual([]);
  });

  it('works with import (ESM)', () => {
    const out = packed().run(
      'esm.mjs',
      `import { createPersistenceWorker } from '@bancada/worker';\n${useIt}`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('works with require (CommonJS)', () => {
    const out = packed().run(
      'cjs.cjs',
      `const { createPersistenceWorker } = require('@bancada/worker');\n(async () => {${useIt}})();`,
    );
    expect(JSON.parse(out)).toEqual(expected);
  });

  it('installs the bancada-worker command, which answers --help and refuses bad configuration', () => {
    // Run as a shell would, through the installed bin: its shebang and mode must be right.
    const out = packed().run(
      'bin.mjs',
      `import { spawnSync } from 'node:child_process';
       const run = (args) => {
         const { status, stdout, stderr } = spawnSync('node_modules/.bin/bancada-worker', args, {
           encoding: 'utf8',
           env: { PATH: process.env.PATH },
         });
         return { status, stdout: stdout.split('\\n')[0], stderr: stderr.split('\\n')[0] };
       };
       console.log(JSON.stringify({ help: run(['--help']), bad: run(['--stream', 's']) }));`,
    );
    const { help, bad } = JSON.parse(out);
    expect(help).toMatchObject({
      status: 0,
      stdout: 'Usage: bancada-worker --stream <name> [options]',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^bancada-worker: missing --redis-url \(or REDIS_URL\)/);
  });
});
