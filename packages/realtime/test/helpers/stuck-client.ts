import { connect, type Socket } from 'node:net';
import { afterThisTest, type TestUser } from './hubs.js';

/** A client that completes the WebSocket handshake, joins, then never reads again. */
export async function stuckClient(port: number, user: TestUser, room: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  afterThisTest(() => socket.destroy());
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      `x-test-user: ${JSON.stringify(user)}\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const body = Buffer.from(JSON.stringify({ type: 'subscribe', room }));
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(body.map((byte, i) => byte ^ mask[i % 4]!));
  socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | body.length]), mask, masked]));
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.pause();
  return socket;
}
