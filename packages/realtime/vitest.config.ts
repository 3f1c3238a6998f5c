import { defineConfig } from 'vitest/config';

// Each of these starts a Redis Cluster (six servers) or a Sentinel set-up of its own and
// kills masters under traffic: run side by side with each other on two cores they starve
// (a shard subscriber not made in time). They run after the rest, one file at a time.
const clusterFiles = [
  'test/cluster.test.ts',
  'test/cluster-failover.test.ts',
  'test/sentinel-failover.test.ts',
  'test/bad-redis-config.test.ts',
  'test/readme-cluster.test.ts',
];

const shared = {
  testTimeout: 30_000,
  hookTimeout: 30_000,
  // The outage test measures the heap after a forced GC.
  execArgv: ['--expose-gc'],
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'realtime',
          include: ['test/**/*.test.ts'],
          exclude: clusterFiles,
        },
      },
      {
        test: {
          ...shared,
          name: 'realtime-cluster',
          include: clusterFiles,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
