import { parseArgs } from 'node:util';
import { CliUsageError } from './errors.js';
import type { PersistenceWorkerOptions } from './options.js';

/** What the CLI runs: the worker's options, and where to serve metrics if anywhere. */
export type CliConfig =
  | { help: true }
  | { help: false; options: PersistenceWorkerOptions; metricsPort: number | undefined };

/** Each setting: its flag, its environment variable, and whether it is a number. */
const SETTINGS = {
  'redis-url': { env: 'REDIS_URL', option: 'redis', number: false },
  'database-url': { env: 'DATABASE_URL', option: 'connectionString', number: false },
  stream: { env: 'BANCADA_WORKER_STREAM', option: 'stream', number: false },
  partitions: { env: 'BANCADA_WORKER_PARTITIONS', option: 'partitions', number: true },
  group: { env: 'BANCADA_WORKER_GROUP', option: 'group', number: false },
  consumer: { env: 'BANCADA_WORKER_CONSUMER', option: 'consumer', number: false },
  table: { env: 'BANCADA_WORKER_TABLE', option: 'table', number: false },
  field: { env: 'BANCADA_WORKER_FIELD', option: 'field', number: false },
  'dead-letter-stream': {
    env: 'BANCADA_WORKER_DEAD_LETTER_STREAM',
    option: 'deadLetterStream',
    number: false,
  },
  'batch-size': { env: 'BANCADA_WORKER_BATCH_SIZE', option: 'batchSize', number: true },
  'batch-timeout-ms': {
    env: 'BANCADA_WORKER_BATCH_TIMEOUT_MS',
    option: 'batchTimeoutMs',
    number: true,
  },
  'claim-min-idle-ms': {
    env: 'BANCADA_WORKER_CLAIM_MIN_IDLE_MS',
    option: 'claimMinIdleMs',
    number: true,
  },
  'statement-timeout-ms': {
    env: 'BANCADA_WORKER_STATEMENT_TIMEOUT_MS',
    option: 'statementTimeoutMs',
    number: true,
  },
  'metrics-port': { env: 'BANCADA_WORKER_METRICS_PORT', option: undefined, number: true },
} as const;

type Flag = keyof typeof SETTINGS;

/** `bancada-worker --help`. */
export const USAGE = `Usage: bancada-worker --stream <name> [options]

Persists a Redis Stream of realtime envelopes to a Postgres table through a consumer
group, in batches, at least once with idempotent inserts. Flags win over environment.

  flag                         environment                          default
  --stream <name>              BANCADA_WORKER_STREAM                required
  --redis-url <url>            REDIS_URL                            required (redis://h:p,
                               redis-cluster://h:p,h:p, redis-sentinel://h:p,h:p/<name>)
  --partitions <n>             BANCADA_WORKER_PARTITIONS            1 (the publishers' number)
  --database-url <url>         DATABASE_URL                         required
  --group <name>               BANCADA_WORKER_GROUP                 bancada-persistence
  --consumer <name>            BANCADA_WORKER_CONSUMER              <hostname>-<pid>-<random>
  --table <name>               BANCADA_WORKER_TABLE                 realtime_events
  --field <name>               BANCADA_WORKER_FIELD                 e
  --dead-letter-stream <name>  BANCADA_WORKER_DEAD_LETTER_STREAM    <stream>:dead
  --batch-size <n>             BANCADA_WORKER_BATCH_SIZE            100
  --batch-timeout-ms <ms>      BANCADA_WORKER_BATCH_TIMEOUT_MS      5000
  --claim-min-idle-ms <ms>     BANCADA_WORKER_CLAIM_MIN_IDLE_MS     60000
  --statement-timeout-ms <ms>  BANCADA_WORKER_STATEMENT_TIMEOUT_MS  30000
  --metrics-port <port>        BANCADA_WORKER_METRICS_PORT          none (serves /metrics, /health)
  --no-create-table            BANCADA_WORKER_CREATE_TABLE=false    the table must exist
  --help

SIGTERM or SIGINT: stops after the current batch (a second one: at once).
Exit codes: 0 stopped by a signal, 2 bad configuration, 1 anything else.`;

/**
 * Reads the CLI's configuration from `argv` (without node and the script) and `env`; throws a
 * CliUsageError naming the flag and variable for anything it cannot use. Ranges and the
 * rest are checked by createPersistenceWorker() itself.
 */
export function parseCliConfig(argv: string[], env: NodeJS.ProcessEnv): CliConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          Object.keys(SETTINGS).map((flag) => [flag, { type: 'string' as const }]),
        ),
        'no-create-table': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
  if (values.help === true) return { help: true };

  const options: Record<string, unknown> = {};
  let metricsPort: number | undefined;
  for (const [flag, setting] of Object.entries(SETTINGS) as Array<
    [Flag, (typeof SETTINGS)[Flag]]
  >) {
    const fromFlag = values[flag] as string | undefined;
    const raw = fromFlag ?? env[setting.env];
    // An empty variable (FOO= in a .env file) means unset, as for REDIS_URL elsewhere.
    if (raw === undefined || (fromFlag === undefined && raw === '')) continue;
    const source = fromFlag !== undefined ? `--${flag}` : setting.env;
    let value: string | number = raw;
    if (setting.number) {
      if (!/^\d+$/.test(raw.trim())) {
        throw new CliUsageError(`${source} must be a whole number, got ${JSON.stringify(raw)}`);
      }
      value = Number(raw.trim());
    } else if (raw.trim() === '') {
      throw new CliUsageError(`${source} must not be empty`);
    }
    if (setting.option === undefined) metricsPort = value as number;
    else options[setting.option] = value;
  }

  const createTable = env.BANCADA_WORKER_CREATE_TABLE;
  if (values['no-create-table'] === true) options.createTable = false;
  else if (createTable !== undefined && createTable !== '') {
    if (createTable !== 'true' && createTable !== 'false') {
      throw new CliUsageError(
        `BANCADA_WORKER_CREATE_TABLE must be true or false, got ${JSON.stringify(createTable)}`,
      );
    }
    options.createTable = createTable === 'true';
  }

  // Named here with their flags, rather than by option name in the library's message.
  const missing = (['stream', 'redis-url', 'database-url'] as const).filter(
    (flag) => options[SETTINGS[flag].option] === undefined,
  );
  if (missing.length > 0) {
    throw new CliUsageError(
      `missing ${missing.map((flag) => `--${flag} (or ${SETTINGS[flag].env})`).join(', ')}`,
    );
  }
  if (metricsPort !== undefined && (metricsPort < 1 || metricsPort > 65_535)) {
    throw new CliUsageError(`the metrics port must be from 1 to 65535, got ${metricsPort}`);
  }
  return { help: false, options: options as unknown as PersistenceWorkerOptions, metricsPort };
}

/**
 * The library names options as in code (`batchSize must be...`): add the flag and the
 * variable a CLI user would have set.
 */
export function withFlagHint(message: string): string {
  const name = /^(\w+) /.exec(message)?.[1];
  const hit = Object.entries(SETTINGS).find(([, setting]) => setting.option === name);
  return hit ? `${message} (--${hit[0]} or ${hit[1].env})` : message;
}
