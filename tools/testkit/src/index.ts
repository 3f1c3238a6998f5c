export {
  type BundledScripts,
  bundleScripts,
  type RunningProcess,
  runNode,
} from './child-script.js';
export { createDatabase, postgresUrl, type TestDatabase } from './database.js';
export { type FaultProxy, faultProxy } from './fault-proxy.js';
export { freePort } from './free-port.js';
export {
  afterThisTest,
  connectClient,
  headerAuthenticate,
  joinedClient,
  openSse,
  type RunningHub,
  type ServableHub,
  type SseStream,
  serveHub,
  serveInstances,
  type TestClient,
  type TestUser,
  upgradeRefusal,
} from './hub-fixtures.js';
export { cleanupPrefix, keyPrefix } from './key-prefix.js';
export {
  BUILD_FILES,
  installPacked,
  type PackedPackage,
  unbuiltFiles,
  usePackedPackage,
} from './packed-package.js';
export { type ClusterNode, type PrivateCluster, startCluster } from './private-cluster.js';
export {
  type PrivateRedis,
  type PrivateTlsRedis,
  startRedis,
  startTlsRedis,
} from './private-redis.js';
export { type PrivateSentinel, startSentinel } from './private-sentinel.js';
export {
  type PrometheusSample,
  type RunningPrometheus,
  startPrometheus,
} from './prometheus.js';
export { checkMetricsText, familiesWithoutSamples } from './promtool.js';
export { type ReadmeApp, readmeCode, runReadmeApp } from './readme-app.js';
export { recordingLogger } from './recording-logger.js';
export { assertRedisAnswers, redisUrl } from './redis-url.js';
export { waitFor } from './wait-for.js';
