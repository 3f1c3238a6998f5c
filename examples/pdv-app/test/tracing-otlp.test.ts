import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@bancada/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// `npm start` with OTEL_EXPORTER_OTLP_ENDPOINT: the real Node SDK and OTLP/HTTP exporter send
// the app's spans to a collector, here a plain HTTP server that keeps what it is sent.

const SERVER_JS = fileURLToPath(new URL('../dist/server.js', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'pdv-otlp-test-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

interface OtlpSpan {
  traceId: string;
  name: string;
}

/** A stand-in collector: every OTLP/JSON export request it gets, as received. */
async function startCollector() {
  const exports: Array<{ path: string; type: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      exports.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const spans = (): OtlpSpan[] =>
    exports.flatMap((e) =>
      (JSON.parse(e.body).resourceSpans ?? []).flatMap(
        (r: { scopeSpans: Array<{ spans: OtlpSpan[] }> }) => r.scopeSpans.flatMap((s) => s.spans),
      ),
    );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    spans,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('npm start with an OTLP endpoint', () => {
  it('sends its spans to the collector, continuing the trace a request brings, and flushes on SIGTERM', async () => {
    if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run npm run build first`);
    const collector = await startCollector();
    const env = {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    };
    const child = spawn(process.execPath, [SERVER_JS], { cwd: workDir, env });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the banner', () => /PDV app: http:\/\/localhost:\d+/.test(output), 60_000);
      expect(output).toContain(`tracing: OTLP to ${collector.url}`);
      const url = /PDV app: (http:\/\/localhost:\d+)/
        .exec(output)![1]!
        .replace('localhost', '127.0.0.1');
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const health = await fetch(`${url}/health`, {
        headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
      });
      expect(health.status).toBe(200);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(collector.exports.every((e) => e.path === '/v1/traces')).toBe(true);
      expect(collector.exports[0]?.type).toContain('application/json');
      expect(collector.spans()).toContainEqual(
        expect.objectContaining({ traceId, name: 'GET /health' }),
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await collector.close();
    }
  }, 90_000);
});
