// The wire format, dependency-free: the hub uses it, and the client SDK bundles it.
export { CloseCode } from './close-codes.js';
export {
  type ClientEvent,
  clientEvent,
  clientEventFrame,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  envelopeBody,
  GAP_EVENT,
  gapMarkBody,
  isGapMark,
  POSITIONED_CLOSE,
  POSITIONED_OPEN,
  parseJsonObject,
  positionedLine,
  sseDataMessage,
  sseEventMessage,
  sseMessage,
} from './envelope.js';
export {
  type ClientRequest,
  checkRequest,
  type ErrorCode,
  type HubNotice,
  MAX_SINCE_LENGTH,
  notice,
  type ProtocolError,
  parseRequest,
  ReplyType,
  RequestType,
} from './messages.js';
export { EVERYONE, MAX_ROOM_LENGTH, restaurantRoom, roomNameProblem } from './rooms.js';
export { compareStreamIds, formatStreamId, parseStreamId, type StreamId } from './stream-ids.js';
export { formatTraceparent, parseTraceparent, type TraceParent } from './traceparent.js';
