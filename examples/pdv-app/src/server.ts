import { createServer } from 'node:net';
import { createPdvApp, defaultInstanceId } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { DEMO_PASSWORD, DEMO_RESTAURANTS } from './seed.js';
import { startTracing } from './tracing.js';

/** `npm start`: reads the environment, starts the app, drains on SIGTERM/SIGINT. */
async function main() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`pdv-app: ${error.message}\nSee examples/pdv-app/README.md for every variable.`);
    process.exit(2);
  }
  // Before the embedded database is opened: a second `npm start` must not open the same
  // .data folder as the first one, only to fail at listen().
  const port = await tryPort(config.port);
  if (port !== 'free') {
    console.error(
      port === 'EADDRINUSE'
        ? `pdv-app: port ${config.port} is in use (another npm start?); pick another: PORT=${config.port + 1} npm start`
        : `pdv-app: cannot listen on port ${config.port} (${port}); pick another: PORT=3000 npm start`,
    );
    process.exit(2);
  }
  config.instanceId ??= defaultInstanceId(); // the same id in every log line and in /health
  // Plain lines for a person at a terminal; JSON for production and log collectors.
  const logger = createLogger(config.instanceId, !config.production && process.stdout.isTTY);
  const tracing = config.otlpEndpoint
    ? await startTracing(config.otlpEndpoint, config.instanceId)
    : undefined;
  if (config.otlpEndpoint) logger.info(`tracing: OTLP to ${config.otlpEndpoint}`);
  const pdv = await createPdvApp({ config, logger });
  const url = await pdv.listen(config.port);
  logger.info(`listening on ${url} as ${pdv.instanceId}`);

  if (!config.production) {
    const logins = DEMO_RESTAURANTS.map((r) => `${r.user.email} (${r.name})`).join(' or ');
    console.log(
      `\n  PDV app: ${url}\n  Log in as ${logins}, password ${DEMO_PASSWORD}\n  Cashier ${url}/cashier · Kitchen ${url}/kitchen\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: draining`);
    const force = setTimeout(() => {
      logger.error('drain took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    await pdv.close();
    await tracing?.shutdown(); // the last spans, sent
    logger.info('drained; bye');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Whether this process could listen on `port` now, or the error code that says why not. */
function tryPort(port: number): Promise<'free' | string> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    probe.listen(port, () => probe.close(() => resolve('free')));
  });
}

main().catch((error) => {
  console.error(`pdv-app: could not start: ${(error as Error).message}`);
  process.exit(1);
});
