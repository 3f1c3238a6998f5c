import { WebSocket } from 'ws';

/** An event as a kitchen screen receives it. */
export interface ScreenEvent {
  type: string;
  eventType?: string;
  room?: string;
  code?: string;
  payload?: { id: number; restaurantId: string; status: string; table: string };
}

export interface Screen {
  /** Every message received, in order. */
  messages: ScreenEvent[];
  /** The `event` messages of one order. */
  eventsOf(orderId: number): ScreenEvent[];
  socket: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/**
 * A kitchen screen over WebSocket: logged in with `cookie`, joined to its restaurant's room
 * with the original app's `auth` message. Resolves once the hub says joined.
 */
export async function openScreen(
  url: string,
  cookie: string,
  restaurantId: string,
): Promise<Screen> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, {
    headers: { cookie, origin: url },
  });
  const messages: ScreenEvent[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const joined = new Promise<void>((resolve, reject) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as ScreenEvent;
      messages.push(message);
      if (message.type === 'joined') resolve();
      if (message.type === 'error') reject(new Error(`join refused: ${message.code}`));
    });
    socket.on('error', reject);
    socket.on('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
    socket.on('open', () => socket.send(JSON.stringify({ type: 'auth', restaurantId })));
  });
  await joined;
  return {
    messages,
    socket,
    closed,
    eventsOf: (orderId) => messages.filter((m) => m.type === 'event' && m.payload?.id === orderId),
    close: () => socket.close(),
  };
}

/** The HTTP status of a refused WebSocket upgrade, or 101 if it was accepted. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}/ws`, { headers });
    socket.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.on('open', () => {
      resolve(101);
      socket.close();
    });
    socket.on('error', (error) => reject(error));
  });
}
