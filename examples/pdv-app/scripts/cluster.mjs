// `npm run cluster`: three instances of the PDV app (`node dist/server.js`) on one Redis and one
// Postgres, behind nginx on http://127.0.0.1:8080, in the foreground. Ctrl-C stops them all.
//
//   npm run cluster                      # from examples/pdv-app (or -w @bancada/pdv-app)
//   CLUSTER_PORT=9090 npm run cluster
//   npm run cluster -- --by-restaurant   # nginx keeps each restaurant's screens on one instance
//   npm run cluster -- --redis-cluster   # on a Redis Cluster of our own (3 masters, 3 replicas)
//
// Environment:
//   CLUSTER_PORT       nginx's port on 127.0.0.1 (default 8080)
//   CLUSTER_BASE_PORT  the first instance's port; the others follow (default 3101)
//   REDIS_URL          else redis://127.0.0.1:6379, else a redis-server of our own; with
//                      --redis-cluster, ignored: the instances get the cluster's
//                      redis-cluster://127.0.0.1:p1,… (cache, hub, limits, leases on it)
//   DATABASE_URL       else the database pdv_cluster on postgres://postgres@127.0.0.1:5432
//   BANCADA_FANOUT     passed on to the instances (default on)
//   NGINX_BIN          the nginx to run (default nginx on the PATH, or /usr/sbin/nginx)
// nginx and redis-server are installed with apt-get when missing (printed first).
//
// The pieces live in scripts/cluster/ (processes, packages, services, nginx, start); they are
// exported here for test/cluster.test.ts and bench/pdv-app/run.mjs, with types in cluster.d.mts.
import { pathToFileURL } from 'node:url';
import { ClusterSetupError, findNginx } from './cluster/packages.mjs';
import { printLine } from './cluster/processes.mjs';
import { startPrivateRedisCluster } from './cluster/redis-cluster.mjs';
import { ensureDatabase, ensureRedis } from './cluster/services.mjs';
import { buildApp, startCluster } from './cluster/start.mjs';

export { renderNginxConfig } from './cluster/nginx.mjs';
export { aptInstall, ClusterSetupError, findNginx } from './cluster/packages.mjs';
export { freePort, printLine } from './cluster/processes.mjs';
export { startPrivateRedisCluster } from './cluster/redis-cluster.mjs';
export {
  createPrivateDatabase,
  ensureDatabase,
  ensureRedis,
  redisAnswers,
  startPrivateRedis,
} from './cluster/services.mjs';
export { buildApp, ensureBuilt, getJson, startCluster } from './cluster/start.mjs';

/**
 * printLine without each instance's own start banner: it names the instance's direct port,
 * while the address to use is nginx's, printed once every instance is up.
 */
function printClusterLine(name, line) {
  if (/^ {2}(PDV app: |Log in as |Cashier )/.test(line) || (line === '' && name !== 'cluster'))
    return;
  printLine(name, line);
}

async function main() {
  const port = Number(process.env.CLUSTER_PORT || 8080);
  const basePort = Number(process.env.CLUSTER_BASE_PORT || 3101);
  const byRestaurant = process.argv.includes('--by-restaurant');
  const redisCluster = process.argv.includes('--redis-cluster');
  let redis;
  let cluster;
  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`\ncluster: ${signal}: stopping the instances (they drain), then nginx`);
    await cluster?.stop();
    await redis?.stop();
    console.log('cluster: stopped');
    process.exit(0);
  };
  // The children are in process groups of their own (see startChild): Ctrl-C, or a closed
  // terminal, reaches only this process, which stops them in order.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => void shutdown(signal));
  }

  try {
    buildApp();
    findNginx({ install: true });
    redis = redisCluster
      ? {
          ...(await startPrivateRedisCluster({ install: true, log: printClusterLine })),
          private: true,
        }
      : await ensureRedis({ url: process.env.REDIS_URL, install: true, log: printClusterLine });
    const database = await ensureDatabase({ url: process.env.DATABASE_URL });
    cluster = await startCluster({
      port,
      instancePorts: [basePort, basePort + 1, basePort + 2],
      redisUrl: redis.url,
      databaseUrl: database.url,
      installNginx: true,
      byRestaurant,
      log: printClusterLine,
    });
    const shown = database.url.replace(/:[^:@/]*@/, ':***@');
    const backends = cluster.instances.map((i) => `${i.id} :${i.port}`).join(', ');
    console.log(
      [
        '',
        `  PDV cluster: ${cluster.url}   (nginx -> ${backends}; ${byRestaurant ? 'by restaurant' : 'by client address'})`,
        '  Log in as ana@sol.demo (Cantina do Sol) or leo@lua.demo (Bistrô da Lua), password demo-pdv',
        `  Cashier ${cluster.url}/cashier · Kitchen ${cluster.url}/kitchen · Health ${cluster.url}/health`,
        `  Redis ${redisCluster ? 'cluster (3 masters, 3 replicas) ' : ''}${redis.url}${redis.private ? ' (our own, gone at exit)' : ''} · Postgres ${shown}`,
        '  Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    console.error(`cluster: ${error instanceof ClusterSetupError ? error.message : error.stack}`);
    await cluster?.stop();
    await redis?.stop();
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
