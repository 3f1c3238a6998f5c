import type { ThrottledLog } from '@bancada/internal';
import {
  type ClientEvent,
  type ClientRequest,
  checkRequest,
  type HubNotice,
  type ProtocolError,
  parseRequest,
} from '@bancada/internal/wire';
import type { Decode, Encode, Notices } from './format-options.js';

/** What a client's message asks: requests to serve, nothing on purpose (null), or why it is bad. */
export type Reading = ClientRequest | ClientRequest[] | ProtocolError | null;

const UNDECODABLE: ProtocolError = {
  code: 'undecodable',
  message: 'this message means nothing here',
};

/**
 * How one attached path (or SSE handler) speaks: its encoder of events, its decoder of
 * client messages, its notices. One object per path, shared by all of the path's members,
 * which reach it through their host: a connection holds no settings of its own. The app's
 * functions are guarded here: one that throws is logged (at most once per interval) and
 * counts as "nothing to send" or "a bad message", never as a crash.
 */
export class PathFormat {
  /** The hub's own format: events as `{ type: 'event', ... }`, requests and notices as JSON. */
  static hub(log: ThrottledLog): PathFormat {
    return new PathFormat(undefined, undefined, 'hub', log);
  }

  constructor(
    /** Undefined: the hub's format. Also the key of an event's text (see `Outgoing`). */
    readonly encode: Encode | undefined,
    private readonly decode: Decode | undefined,
    private readonly notices: Notices,
    private readonly log: ThrottledLog,
  ) {}

  /** True when notices go as the hub's JSON (SSE then names their message: `event: gap`). */
  get hubNotices(): boolean {
    return this.notices === 'hub';
  }

  /** This path's text of an event; undefined: its clients do not get it. */
  encodeEvent(event: ClientEvent): string | undefined {
    let text: unknown;
    try {
      text = this.encode?.(event);
    } catch (error) {
      this.log.warn('encode', `realtime: encode() threw, event not sent: ${messageOf(error)}`);
      return undefined;
    }
    if (typeof text === 'string' || text === undefined) return text;
    this.log.warn('encode', `realtime: encode() returned a ${typeOf(text)}, not a string`);
    return undefined;
  }

  /** The text of a notice on this path, or undefined when it is not sent. */
  notice(n: HubNotice): string | undefined {
    const notices = this.notices;
    if (notices === 'hub') return JSON.stringify(n);
    if (notices === 'none') return undefined;
    let text: unknown;
    try {
      text = notices(n);
    } catch (error) {
      this.log.warn(
        'notices',
        `realtime: notices() threw, ${n.type} not sent: ${messageOf(error)}`,
      );
      return undefined;
    }
    if (typeof text === 'string' || text === undefined) return text;
    this.log.warn('notices', `realtime: notices() returned a ${typeOf(text)}, not a string`);
    return undefined;
  }

  /** What a client's text message asks of the hub. */
  read(text: string): Reading {
    if (this.decode === undefined) return parseRequest(text);
    let decoded: unknown;
    try {
      decoded = this.decode(text);
    } catch (error) {
      this.log.warn('decode', `realtime: decode() threw: ${messageOf(error)}`);
      return UNDECODABLE;
    }
    if (decoded === null) return null;
    if (!Array.isArray(decoded)) return checkRequest(decoded);
    if (decoded.length === 0) return null;
    const requests: ClientRequest[] = [];
    for (const item of decoded) {
      const request = checkRequest(item);
      if ('code' in request) return request; // all or nothing: no half-served message
      requests.push(request);
    }
    return requests;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
