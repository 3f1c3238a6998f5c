import { spawn } from 'node:child_process';

const PROMTOOL = process.env.PROMTOOL_BIN || 'promtool';

/**
 * Pipes Prometheus text (a registry's `metrics()`, a `/metrics` body) through `promtool check
 * metrics`, Prometheus's own parser and linter (counters end in `_total`, units as suffixes,
 * no `_total` on gauges, help on every metric...). Rejects with promtool's own words.
 */
export async function checkMetricsText(text: string): Promise<void> {
  const { code, output } = await new Promise<{ code: number | null; output: string }>(
    (resolve, reject) => {
      const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new Error(
                `${PROMTOOL} is not installed: apt-get install prometheus (Debian), or set PROMTOOL_BIN`,
              )
            : error,
        ),
      );
      child.once('close', (exitCode) => resolve({ code: exitCode, output }));
      child.stdin.on('error', () => {}); // an early exit is reported by its code and output
      child.stdin.end(text);
    },
  );
  if (code !== 0) {
    throw new Error(`promtool check metrics (exit code ${code}) says:\n${output.trim()}`);
  }
}

/**
 * The metric families in Prometheus text that have no sample: a linter checks names and help
 * of such a family, but a test that means to check its samples did too little work.
 */
export function familiesWithoutSamples(text: string): string[] {
  const families = [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((match) => match[1]!);
  const sampled = new Set(
    [...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((match) => match[1]!),
  );
  return families.filter(
    (family) =>
      !['', '_total', '_bucket', '_count', '_sum'].some((suffix) => sampled.has(family + suffix)),
  );
}
