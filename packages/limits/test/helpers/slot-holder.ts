// Run as a child process by instance-crash.test.ts: an instance of an app that takes
// `count` slots for one client and then lives until it is killed.
import { connectionLimit, isRejection } from '../../src/index.js';
import { fakeRequest } from './fake-request.js';

const [url, prefix, ip, count] = process.argv.slice(2) as [string, string, string, string];
const limiter = connectionLimit({ redis: url, prefix, maxPerIp: Number(count), logger: false });
for (let i = 0; i < Number(count); i++) {
  const lease = await limiter.acquire(fakeRequest(ip));
  if (isRejection(lease)) throw new Error(`slot ${i + 1} refused: ${lease.reason}`);
}
process.stdout.write(`holding ${count}\n`);
// The limiter's timers are unref()ed; this keeps the process (and its renewals) alive.
setInterval(() => {}, 60_000);
