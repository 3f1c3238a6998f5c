import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@bancada/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// `npm start` as a user meets it: `node dist/server.js` on embedded defaults, its banner, a
// second start on the same port, and SIGTERM.

const SERVER_JS = fileURLToPath(new URL('../dist/server.js', import.meta.url));
// Its own folder: the embedded database goes to .data under the working directory.
const workDir = mkdtempSync(join(tmpdir(), 'pdv-server-test-'));

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function start(port: number): Started {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run npm run build first`);
  // Nothing of the machine's services: no REDIS_URL, no DATABASE_URL, no NODE_ENV.
  const env = { PATH: process.env.PATH ?? '', PORT: String(port) };
  const child = spawn(process.execPath, [SERVER_JS], { cwd: workDir, env });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output: () => text, exited };
}

describe('npm start (node dist/server.js)', () => {
  it('starts on embedded defaults, prints the URL and a demo login, refuses a second start on its port, and drains on SIGTERM', async () => {
    const first = start(0);
    try {
      // The log lines are written asynchronously: they may come after the banner.
      await waitFor(
        'the banner and the start log',
        () =>
          /PDV app: http:\/\/localhost:\d+/.test(first.output()) &&
          first.output().includes('realtime: local'),
        60_000,
      );
      const out = first.output();
      const url = /PDV app: (http:\/\/localhost:\d+)/.exec(out)![1]!;
      expect(out).toMatch(/Log in as ana@sol\.demo .* password demo-pdv/);
      expect(out).toContain('cache: memory (single instance only)');
      expect(out).toContain('realtime: local (single instance only)');
      const health = await fetch(`${url.replace('localhost', '127.0.0.1')}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ redis: 'not configured', postgres: 'up' });

      // A second start on the same port stops before it opens the same .data folder.
      const second = start(Number(new URL(url).port));
      expect(await second.exited).toBe(2);
      expect(second.output()).toMatch(
        /port \d+ is in use \(another npm start\?\); pick another: PORT=/,
      );
      expect(second.output()).not.toContain('database:');

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(first.output()).toContain('drained; bye');
    } finally {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
  }, 90_000); // an embedded Postgres starts slowly on a busy machine
});
