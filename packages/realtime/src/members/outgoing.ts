import { clientEventFrame, type Envelope, sseEventMessage } from '@bancada/internal/wire';
import * as ws from 'ws';

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
// ws builds frames with Sender.frame(), exported by the module but not typed in @types/ws.
const Sender = (ws as unknown as { Sender: { frame(d: Buffer, o: FrameOptions): Buffer[] } })
  .Sender;
const TEXT_FRAME: FrameOptions = {
  fin: true,
  opcode: 1,
  mask: false,
  readOnly: false,
  rsv1: false,
};

/**
 * One event, encoded at most once per format however many clients receive it: the JSON
 * text, the finished WebSocket frame (header and body in one buffer, written as is to
 * every socket) and the SSE message. Each is built on first use.
 */
export class Outgoing {
  private json: string | undefined;
  private wsFrame: Buffer | undefined;
  private sse: string | undefined;

  constructor(readonly envelope: Envelope) {}

  get text(): string {
    this.json ??= clientEventFrame(this.envelope);
    return this.json;
  }

  get websocketFrame(): Buffer {
    this.wsFrame ??= Buffer.concat(Sender.frame(Buffer.from(this.text), TEXT_FRAME));
    return this.wsFrame;
  }

  get sseMessage(): string {
    this.sse ??= sseEventMessage(this.envelope, this.text);
    return this.sse;
  }
}
