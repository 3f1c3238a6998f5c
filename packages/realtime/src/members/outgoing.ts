import {
  type ClientEvent,
  clientEvent,
  clientEventFrame,
  type Envelope,
  sseDataMessage,
  sseEventMessage,
} from '@bancada/internal/wire';
import * as ws from 'ws';
import type { Encode } from '../formats/format-options.js';
import type { PathFormat } from '../formats/path-format.js';

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
 * One event, encoded at most once per format however many clients receive it: once in the
 * hub's format, and once per encoder of the paths whose members receive it (members of
 * paths that share an encoder share its text). Each text, finished WebSocket frame and SSE
 * message is built on first use; a member only looks its format's one up.
 */
export class Outgoing {
  private hub: Encoded | undefined;
  /** Per path encoder: its text of this event, or null where it skips the event. */
  private byEncoder: Map<Encode, Encoded | null> | undefined;
  private view: ClientEvent | undefined;

  constructor(readonly envelope: Envelope) {}

  /** The event as `format` sends it; null when the format skips it. */
  in(format: PathFormat): Encoded | null {
    const encode = format.encode;
    if (encode === undefined) {
      this.hub ??= new Encoded(this.envelope, clientEventFrame(this.envelope), true);
      return this.hub;
    }
    this.byEncoder ??= new Map();
    let encoded = this.byEncoder.get(encode);
    if (encoded === undefined) {
      // Frozen: the same object goes to every encoder of the event.
      this.view ??= Object.freeze(clientEvent(this.envelope));
      const text = format.encodeEvent(this.view);
      encoded = text === undefined ? null : new Encoded(this.envelope, text, false);
      this.byEncoder.set(encode, encoded);
    }
    return encoded;
  }
}

/**
 * An event's text in one format, and what each transport writes of it: the WebSocket frame
 * (header and body in one buffer, written as is to every socket) and the SSE message.
 */
export class Encoded {
  private wsFrame: Buffer | undefined;
  private sse: string | undefined;

  constructor(
    private readonly envelope: Envelope,
    readonly text: string,
    /** The hub's format names SSE messages after the event type; an app's own sends `message`s. */
    private readonly named: boolean,
  ) {}

  get websocketFrame(): Buffer {
    this.wsFrame ??= Buffer.concat(Sender.frame(Buffer.from(this.text), TEXT_FRAME));
    return this.wsFrame;
  }

  get sseMessage(): string {
    this.sse ??= this.named
      ? sseEventMessage(this.envelope, this.text)
      : sseDataMessage(this.envelope.id, this.text);
    return this.sse;
  }
}
