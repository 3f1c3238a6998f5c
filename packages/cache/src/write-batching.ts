import type { Redis } from 'ioredis';

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
