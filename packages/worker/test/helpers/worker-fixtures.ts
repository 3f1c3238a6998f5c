import { fileURLToPath } from 'node:url';
import { bundleScripts } from '@bancada/testkit';
import type { Redis } from 'ioredis';
import type pg from 'pg';

export { runNode } from '@bancada/testkit';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Bundles the CLI and the crashing child from source (see testkit's bundleScripts), so that
 * the test runs the code as it is now, built or not. Returns their paths.
 */
export async function bundleWorkerScripts(): Promise<{
  cli: string;
  child: string;
  remove(): Promise<void>;
}> {
  const scripts = await bundleScripts(packageDir, {
    cli: 'src/cli.ts',
    'worker-child': 'test/helpers/worker-child.ts',
  });
  return {
    cli: scripts.paths.cli!,
    child: scripts.paths['worker-child']!,
    remove: () => scripts.remove(),
  };
}

/** The envelope of event number `n`, as the hub (or any service) XADDs it. */
export function envelope(n: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    eventType: 'order-created',
    id: `ev-${n}`,
    traceId: `trace-${n}`,
    payload: { n, items: ['pastel', 'caldo de cana'] },
    ts: 1_700_000_000_000 + n,
    room: `restaurant:${n % 3}`,
    ...extra,
  });
}

/** XADDs envelopes `from` to `from + count - 1` in one pipeline. */
export async function addEvents(
  redis: Redis,
  stream: string,
  from: number,
  count: number,
): Promise<void> {
  const pipeline = redis.pipeline();
  for (let n = from; n < from + count; n++) pipeline.xadd(stream, '*', 'e', envelope(n));
  await pipeline.exec();
}

export async function rowCount(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table}`).catch(() => ({
    rows: [{ n: -1 }],
  }));
  return rows[0].n;
}

/** Entries the group has delivered and nobody has acknowledged. */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const summary = (await redis.xpending(stream, group).catch(() => [0])) as [number];
  return Number(summary[0]);
}

/**
 * Envelope ids of the entries the group has acknowledged: delivered (up to its last
 * delivered id) and no longer pending.
 */
export async function acknowledgedIds(
  redis: Redis,
  stream: string,
  group: string,
): Promise<string[]> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  const info = groups.find((flat) => flat[flat.indexOf('name') + 1] === group);
  if (!info) return [];
  const lastDelivered = String(info[info.indexOf('last-delivered-id') + 1]);
  const pending = (await redis.xpending(stream, group, '-', '+', 100_000)) as Array<
    [string, ...unknown[]]
  >;
  const pendingIds = new Set(pending.map(([id]) => id));
  const entries = await redis.xrange(stream, '-', '+');
  return entries
    .filter(([id]) => compareIds(id, lastDelivered) <= 0 && !pendingIds.has(id))
    .map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!).id as string);
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}
