/**
 * A W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): where an event's
 * trace goes on. Envelopes carry it as text, so that the wire stays dependency-free and any
 * other service can put its own in a plain PUBLISH.
 */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero: the span the event was published in. */
  spanId: string;
  /** The trace flags byte; bit 0 says the trace is sampled. */
  traceFlags: number;
}

/** Version 00: `00-<trace id>-<span id>-<flags>`. Later versions start the same way. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The trace context a `traceparent` value holds, or undefined for anything malformed. */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length > 256) return undefined;
  const m = TRACEPARENT.exec(value);
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, ...string[]];
  // ff is forbidden; version 00 has nothing after the flags.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: Number.parseInt(flags!, 16) };
}

/** The `traceparent` of a trace context (version 00). */
export function formatTraceparent(context: TraceParent): string {
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${context.traceId}-${context.spanId}-${flags}`;
}
