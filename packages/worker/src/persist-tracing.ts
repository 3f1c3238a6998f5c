import { type Otel, optionalOtel } from '@bancada/internal';
import type { Link, Tracer } from '@opentelemetry/api';
import type { EventRow } from './entries.js';

const TRACER = '@bancada/worker';
const PERSIST_SPAN = 'bancada.worker persist';
/** OpenTelemetry SDKs keep 128 links per span by default; more would be dropped anyway. */
const MAX_LINKS = 128;

/** One batch's span, ended when its INSERT committed (or was given up on close). */
export interface PersistSpan {
  end(inserted: number | undefined): void;
}

/**
 * OpenTelemetry for the worker, through `@opentelemetry/api` when the app has it (an optional
 * peer dependency): a batch that holds events published in a trace is written within a span
 * linked to each of their publish contexts (one batch, many traces: links, not a parent).
 */
export class PersistTracing {
  /** The worker's tracing, or undefined without `@opentelemetry/api`. */
  static open(): PersistTracing | undefined {
    const otel = optionalOtel();
    return otel === undefined ? undefined : new PersistTracing(otel);
  }

  private readonly tracer: Tracer;

  private constructor(private readonly otel: Otel) {
    this.tracer = otel.trace.getTracer(TRACER);
  }

  /** The span of writing `rows` to `table`; undefined when none of them was published in a trace. */
  start(rows: readonly EventRow[], stream: string, table: string): PersistSpan | undefined {
    const links: Link[] = [];
    for (const row of rows) {
      if (row.trace === undefined) continue;
      if (links.length === MAX_LINKS) break;
      links.push({ context: { ...row.trace, isRemote: true } });
    }
    if (links.length === 0) return undefined;
    const span = this.tracer.startSpan(
      PERSIST_SPAN,
      {
        kind: this.otel.SpanKind.CONSUMER,
        links,
        attributes: {
          'messaging.system': 'redis',
          'messaging.operation.type': 'process',
          'messaging.destination.name': stream,
          'messaging.batch.message_count': rows.length,
          'db.system.name': 'postgresql',
          'db.collection.name': table,
        },
      },
      this.otel.ROOT_CONTEXT,
    );
    return {
      end(inserted) {
        if (inserted === undefined) span.setAttribute('bancada.abandoned', true);
        else span.setAttribute('bancada.inserted', inserted);
        span.end();
      },
    };
  }
}
