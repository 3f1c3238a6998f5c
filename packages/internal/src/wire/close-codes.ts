/**
 * The WebSocket close codes the hub sends, in one place for the hub and the client SDK.
 * 4401 and 4403 are the HTTP 401 and 403 of a connection already open (as graphql-ws does).
 */
export const CloseCode = {
  /** A rule was broken (bad messages, message quota): the client may reconnect. */
  policy: 1008,
  /** A frame over the size limit. */
  tooBig: 1009,
  /** The server restarts; the reason is `{ "retryAfterMs" }`. */
  restart: 1012,
  /** Too slow to read (or try again later for another reason). */
  tryAgainLater: 1013,
  /** The session ended while connected: log in again. */
  sessionEnded: 4401,
  /** The principal may no longer be in one of its rooms. */
  noLongerAllowed: 4403,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
