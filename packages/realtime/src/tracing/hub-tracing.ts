import { type Otel, optionalOtel } from '@bancada/internal';
import { type Envelope, formatTraceparent, parseTraceparent } from '@bancada/internal/wire';
import type { Tracer } from '@opentelemetry/api';
import { RealtimeOptionError } from '../errors.js';

/** The tracer's name, as trace backends show it. */
const TRACER = '@bancada/realtime';
const DELIVER_SPAN = 'bancada.realtime deliver';

/** `HubOptions.tracing`, resolved: `'auto'` traces when `@opentelemetry/api` is installed. */
export type TracingChoice = boolean | 'auto';

/** One delivery's span, ended once the event is written to the room's local members. */
export interface DeliverySpan {
  end(clientsWritten: number, latencySeconds: number): void;
}

/**
 * OpenTelemetry for the hub, through `@opentelemetry/api` when the app has it (an optional
 * peer dependency). A publish records the trace context it was made in on the envelope
 * (`traceparent`); each instance that delivers an envelope carrying one makes a span, a child
 * of the publisher's, with the room, the clients written and the latency. With no SDK
 * registered, the API's no-op tracer answers: nothing is recorded.
 */
export class HubTracing {
  /** The hub's tracing, or undefined: `false`, or `'auto'` without `@opentelemetry/api`. */
  static open(choice: TracingChoice, instanceId: string): HubTracing | undefined {
    if (choice === false) return undefined;
    const otel = optionalOtel();
    if (otel === undefined) {
      if (choice === true) {
        throw new RealtimeOptionError(
          'tracing: true needs @opentelemetry/api installed (npm install @opentelemetry/api)',
        );
      }
      return undefined;
    }
    return new HubTracing(otel, instanceId);
  }

  private readonly tracer: Tracer;

  private constructor(
    private readonly otel: Otel,
    private readonly instanceId: string,
  ) {
    // A proxy: it follows whichever SDK the app registers, before or after the hub is made.
    this.tracer = otel.trace.getTracer(TRACER);
  }

  /** The active trace context as a `traceparent`, or undefined outside any trace. */
  traceparent(): string | undefined {
    const context = this.otel.trace.getSpanContext(this.otel.context.active());
    if (context === undefined || !this.otel.isSpanContextValid(context)) return undefined;
    return formatTraceparent(context);
  }

  /** The span of delivering `envelope` here, a child of its publisher's; undefined when it has no trace. */
  startDelivery(envelope: Envelope, members: number): DeliverySpan | undefined {
    const parent = parseTraceparent(envelope.traceparent);
    if (parent === undefined) return undefined;
    const { trace, ROOT_CONTEXT, SpanKind } = this.otel;
    const remote = trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
    const span = this.tracer.startSpan(
      DELIVER_SPAN,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'bancada',
          'messaging.operation.type': 'process',
          'messaging.destination.name': envelope.room,
          'messaging.message.id': envelope.id,
          'bancada.event_type': envelope.eventType,
          'bancada.instance_id': this.instanceId,
          'bancada.room_members': members,
        },
      },
      remote,
    );
    return {
      end(clientsWritten, latencySeconds) {
        span.setAttribute('bancada.clients_written', clientsWritten);
        span.setAttribute('bancada.latency_ms', Math.round(latencySeconds * 1000));
        span.end();
      },
    };
  }
}
