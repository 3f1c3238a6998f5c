// Types of cluster.mjs for TypeScript callers (the tests); cluster.mjs stays plain JavaScript so
// that `npm run cluster` runs without a build.

/** Receives each line a child writes, with the child's name (`pdv-1`, `nginx`, `redis`). */
export type LineLog = (name: string, line: string) => void;

/** Something the cluster needs is missing on this machine; the message says how to get it. */
export class ClusterSetupError extends Error {}

export interface ClusterOptions {
  redisUrl: string;
  databaseUrl: string;
  /** nginx's port on 127.0.0.1. @default 8080 */
  port?: number;
  /** One instance per port, named pdv-1, pdv-2, ... @default [3101, 3102, 3103] */
  instancePorts?: number[];
  /** apt-get install nginx when it is missing; otherwise a ClusterSetupError. @default false */
  installNginx?: boolean;
  /** Shared by every instance. @default a random one per call */
  sessionSecret?: string;
  /** nginx sends each restaurant's requests to one instance, not each client address's. @default false */
  byRestaurant?: boolean;
  /** Extra environment variables for the instances. */
  env?: NodeJS.ProcessEnv;
  /** @default prefixed lines on stdout */
  log?: LineLog;
  /** How long the instances may take to answer /health. @default 60000 */
  startTimeoutMs?: number;
}

export interface ClusterInstance {
  id: string;
  port: number;
  /** The instance itself, bypassing nginx. */
  url: string;
  pid: number;
}

export interface Cluster {
  /** nginx: http://127.0.0.1:<port>. */
  url: string;
  instances: ClusterInstance[];
  nginx: { pid: number; dir: string; config: string };
  sessionSecret: string;
  /** Stops the instances (they drain), then nginx. Idempotent. */
  stop(): Promise<void>;
}

export function startCluster(options: ClusterOptions): Promise<Cluster>;
export function renderNginxConfig(options: {
  port: number;
  instances: Array<{ id: string; port: number }>;
  byRestaurant?: boolean;
}): Promise<string>;
/** NGINX_BIN, else nginx on the PATH or in /usr/sbin; apt-get when missing and `install`. */
export function findNginx(options?: { install?: boolean }): string;
export function aptInstall(pkg: string): void;
export function freePort(): Promise<number>;
export function buildApp(): void;
export function ensureBuilt(log?: LineLog): void;
export function printLine(name: string, line: string): void;
export function getJson(
  url: string,
  timeoutMs?: number,
): Promise<{ status: number; body: unknown } | undefined>;
export function redisAnswers(url: string): Promise<boolean>;

export interface OwnedService {
  url: string;
  stop(): Promise<void>;
}
export function startPrivateRedis(options?: {
  install?: boolean;
  log?: LineLog;
}): Promise<OwnedService & { pid: number }>;
export function ensureRedis(options?: {
  url?: string;
  install?: boolean;
  log?: LineLog;
}): Promise<OwnedService & { private: boolean }>;
/**
 * A Redis Cluster of our own (`masters` masters with `replicas` replicas each, default 3 and 1)
 * from the machine's redis-server, on free ports; `url` is its `redis-cluster://` seed list.
 */
export function startPrivateRedisCluster(options?: {
  masters?: number;
  replicas?: number;
  install?: boolean;
  log?: LineLog;
}): Promise<OwnedService & { ports: number[]; kill(port: number): Promise<void> }>;
export function ensureDatabase(options?: { url?: string; name?: string }): Promise<{ url: string }>;
export function createPrivateDatabase(options?: {
  serverUrl?: string;
  prefix?: string;
}): Promise<{ url: string; name: string; drop(): Promise<void> }>;
