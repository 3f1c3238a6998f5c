import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const PROMETHEUS = process.env.PROMETHEUS_BIN || 'prometheus';

/** One answer of Prometheus's `/api/v1/query` for an instant vector. */
export interface PrometheusSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A Prometheus server of the test's own, scraping the given targets. */
export interface RunningPrometheus {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /**
   * Runs `expr` through `/api/v1/query`; rejects with Prometheus's error for an invalid
   * query, resolves the samples (an empty array when nothing matches).
   */
  query(expr: string): Promise<PrometheusSample[]>;
  /** Stops the server and removes its folder. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts Prometheus (Debian's binary, or PROMETHEUS_BIN) on a free port of 127.0.0.1 with its
 * data in a fresh temporary folder, scraping each job's targets (`host:port`, path /metrics)
 * every `scrapeIntervalMs`. Resolves once it is ready and has scraped every target once.
 */
export async function startPrometheus(options: {
  jobs: Record<string, string[]>;
  scrapeIntervalMs?: number;
}): Promise<RunningPrometheus> {
  const interval = `${options.scrapeIntervalMs ?? 1000}ms`;
  const dir = await mkdtemp(join(tmpdir(), 'bancada-prometheus-'));
  const port = await freePort();
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    ...Object.entries(options.jobs).flatMap(([job, targets]) => [
      `  - job_name: ${JSON.stringify(job)}`,
      `    scrape_timeout: ${interval}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(targets)}`,
    ]),
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (chunk) => {
    log += chunk;
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const query = async (expr: string): Promise<PrometheusSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PrometheusSample[] };
    };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${body.error}`);
    if (body.data?.resultType !== 'vector') {
      throw new Error(`${expr} is a ${body.data?.resultType}, not an instant vector`);
    }
    return body.data.result;
  };

  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (spawnError) {
          throw spawnError.code === 'ENOENT'
            ? new Error(
                `${PROMETHEUS} is not installed: apt-get install prometheus (Debian), or set PROMETHEUS_BIN`,
              )
            : spawnError;
        }
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${log.trim()}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
      },
      30_000,
    );
    const targets = Object.values(options.jobs).flat().length;
    await waitFor(
      'Prometheus to scrape every target',
      async () => (await query('up == 1')).length === targets,
      30_000,
    );
  } catch (error) {
    // What Prometheus says of each target (a scrape error names the cause) goes with it.
    const targets = await fetch(`${url}/api/v1/targets`)
      .then((response) => response.text())
      .catch(() => '');
    await stop();
    throw new Error(`${(error as Error).message}\n${targets}\n${log.trim()}`);
  }
  return { url, query, stop, [Symbol.asyncDispose]: stop };
}
