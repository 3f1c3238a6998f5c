import { type Otel, optionalOtel } from '@bancada/internal';
import { parseTraceparent } from '@bancada/internal/wire';
import type { Context, Tracer } from '@opentelemetry/api';

const TRACER = '@bancada/pg-bridge';
const NOTIFY_SPAN = 'bancada.pg-bridge notify';
/** A `"traceparent": "..."` member of a JSON payload, found without parsing the whole of it. */
const TRACEPARENT_MEMBER = /"traceparent"\s*:\s*"([^"]{1,256})"/;

/**
 * OpenTelemetry for the bridge, through `@opentelemetry/api` when the app has it (an optional
 * peer dependency): each notification is handled within a span of its own, so that the hub's
 * publish records it as the event's trace context and every delivery continues that trace.
 * A payload that carries a `traceparent` (the transaction that notified, setting it from its
 * own trace) makes that span its child: one trace from the write to the sockets.
 */
export class BridgeTracing {
  /** The bridge's tracing, or undefined without `@opentelemetry/api`. */
  static open(): BridgeTracing | undefined {
    const otel = optionalOtel();
    return otel === undefined ? undefined : new BridgeTracing(otel);
  }

  private readonly tracer: Tracer;

  private constructor(private readonly otel: Otel) {
    this.tracer = otel.trace.getTracer(TRACER);
  }

  /** Runs `handle` (which says what became of the notification) within the notification's span. */
  within(channel: string, payload: string, handle: () => string): void {
    this.tracer.startActiveSpan(
      NOTIFY_SPAN,
      {
        kind: this.otel.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'postgresql',
          'messaging.operation.type': 'process',
          'messaging.destination.name': channel,
        },
      },
      this.parentOf(payload),
      (span) => {
        try {
          span.setAttribute('bancada.outcome', handle());
        } finally {
          span.end();
        }
      },
    );
  }

  /** The trace a payload names (`"traceparent": "00-..."`), else none: a trace of its own. */
  private parentOf(payload: string): Context {
    const { ROOT_CONTEXT, trace } = this.otel;
    const named = payload.includes('traceparent') ? TRACEPARENT_MEMBER.exec(payload) : null;
    const parent = named === null ? undefined : parseTraceparent(named[1]);
    if (parent === undefined) return ROOT_CONTEXT;
    return trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
  }
}
