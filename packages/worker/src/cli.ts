#!/usr/bin/env node
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { parseCliConfig, USAGE, withFlagHint } from './cli-config.js';
import { CliUsageError, WorkerOptionError } from './errors.js';
import { createPersistenceWorker } from './persistence-worker.js';
import type { PersistenceWorker } from './types.js';

/** `bancada-worker`: the persistence worker as a process of its own. See the README. */
async function main(): Promise<void> {
  let worker: PersistenceWorker;
  let metricsPort: number | undefined;
  const registry = new Registry();
  try {
    const config = parseCliConfig(process.argv.slice(2), process.env);
    if (config.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    metricsPort = config.metricsPort;
    worker = createPersistenceWorker({
      ...config.options,
      registry: metricsPort === undefined ? undefined : registry,
    });
  } catch (error) {
    if (error instanceof CliUsageError || error instanceof WorkerOptionError) {
      process.stderr.write(
        `bancada-worker: ${withFlagHint(error.message)}\nRun bancada-worker --help for the options.\n`,
      );
      process.exitCode = 2;
      return;
    }
    throw error;
  }

  worker.start();
  // The worker's timers are unref'd, as a library's should be, and while Redis is down no
  // socket is open either: the process itself must stay up until it is told to stop.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let server: Server | undefined;
  if (metricsPort !== undefined) {
    try {
      server = await serveMetrics(metricsPort, worker, registry);
    } catch (error) {
      await worker.close();
      clearInterval(keepAlive);
      throw error;
    }
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`bancada-worker: ${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`bancada-worker: ${signal}: stopping after the current batch\n`);
    void (async () => {
      await worker.close();
      server?.close();
      clearInterval(keepAlive);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** GET /metrics (Prometheus text) and GET /health (stats as JSON; 503 while degraded). */
async function serveMetrics(
  port: number,
  worker: PersistenceWorker,
  registry: Registry,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else if (req.url === '/health') {
      const stats = worker.stats();
      res
        .writeHead(stats.degraded ? 503 : 200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(stats));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  process.stdout.write(`bancada-worker: metrics on :${port}/metrics, health on /health\n`);
  return server;
}

main().catch((error: unknown) => {
  process.stderr.write(`bancada-worker: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
});
