import { type Otel, optionalOtel } from '@bancada/internal';
import type { Tracer } from '@opentelemetry/api';

const TRACER = '@bancada/pg-bridge';
const NOTIFY_SPAN = 'bancada.pg-bridge notify';

/**
 * OpenTelemetry for the bridge, through `@opentelemetry/api` when the app has it (an optional
 * peer dependency): each notification is handled within a span of its own, so that the hub's
 * publish records it as the event's trace context and every delivery continues that trace.
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
  within(channel: string, handle: () => string): void {
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
      this.otel.ROOT_CONTEXT,
      (span) => {
        try {
          span.setAttribute('bancada.outcome', handle());
        } finally {
          span.end();
        }
      },
    );
  }
}
