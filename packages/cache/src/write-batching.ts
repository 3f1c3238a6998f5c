import type { Cluster, Redis } from 'ioredis';

/**
 * While replies are still pending on a connection, the commands issued in one tick are
 * written to the socket together (one syscall instead of one each). An idle connection
 * writes at once, so a lone caller waits for nothing.
 */
export class WriteBatching {
  private corked = false;

  constructor(private readonly client: Redis) {}

  /** Call before sending a command. */
  beforeSend(): void {
    if (this.corked || this.client.commandQueue.length === 0) return;
    const stream = this.client.stream;
    stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }
}

/**
 * WriteBatching on a Redis Cluster: once per tick, the first command finds the masters whose
 * connections have replies pending and corks them until the next tick, so that the commands
 * issued meanwhile go out in one write per node.
 */
export class ClusterWriteBatching {
  private corked = false;

  constructor(private readonly cluster: Cluster) {}

  /** Call before sending a command. */
  beforeSend(): void {
    if (this.corked) return;
    const streams: Redis['stream'][] = [];
    for (const node of this.cluster.nodes('master')) {
      if (node.commandQueue.length > 0 && node.stream) streams.push(node.stream);
    }
    if (streams.length === 0) return;
    for (const stream of streams) stream.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      for (const stream of streams) stream.uncork();
    });
  }
}
