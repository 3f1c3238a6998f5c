// A process of an app with one job, for the tests that kill or stall it. Prints each run
// (`ran <Date.now()>`) and each log line on stdout; `{ stall: ms }` over IPC blocks its event
// loop that long, as a long synchronous task or a GC pause would.
import { everyOnce } from '../../src/index.js';

const [redis, prefix, name, everyMs, leaseMs, instanceId] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

const job = everyOnce(name!, Number(everyMs), () => say(`ran ${Date.now()}`), {
  redis: redis!,
  prefix: prefix!,
  leaseMs: Number(leaseMs),
  instanceId: instanceId!,
  logger: {
    info: (message) => say(`info ${message}`),
    warn: (message) => say(`warn ${message}`),
    error: (message) => say(`error ${message}`),
  },
});

process.on('message', (message: { stall?: number }) => {
  if (message.stall === undefined) return;
  const until = Date.now() + message.stall;
  while (Date.now() < until) {
    // blocked on purpose
  }
  say(`woke ${Date.now()}`);
});

process.on('SIGTERM', () => {
  void job.stop().then(() => process.exit(0));
});
