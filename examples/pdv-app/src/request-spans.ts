import type { RequestHandler } from 'express';

/**
 * A span per request (continuing a `traceparent` the request brings), active while the
 * request is handled, so that what it publishes carries its trace to every instance. Named
 * after the route once it is known (`POST /api/orders`), not the raw path. Loads
 * `@opentelemetry/api` (an optional dependency): only used when tracing is configured.
 */
export async function requestSpans(instanceId: string): Promise<RequestHandler> {
  const { context, propagation, SpanKind, SpanStatusCode, trace } = await import(
    '@opentelemetry/api'
  );
  const tracer = trace.getTracer('pdv-app');
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'url.path': req.path,
          'service.instance.id': instanceId,
        },
      },
      parent,
    );
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (req.route?.path !== undefined)
        span.updateName(`${req.method} ${req.baseUrl}${req.route.path}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(trace.setSpan(parent, span), next);
  };
}
