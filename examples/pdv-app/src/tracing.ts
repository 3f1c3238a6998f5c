/** The OpenTelemetry SDK of this process, started only when an OTLP endpoint is configured. */
export interface Tracing {
  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry Node SDK: spans batched to `endpoint` over OTLP/HTTP, W3C trace
 * context propagation, and AsyncLocalStorage so that a request's span is active in all it
 * does, the hub's publish included. Its packages are optional dependencies, imported here
 * only: without an endpoint none of them is loaded.
 */
export async function startTracing(endpoint: string, instanceId: string): Promise<Tracing> {
  const [
    { NodeTracerProvider, BatchSpanProcessor },
    { OTLPTraceExporter },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'pdv-app',
      'service.instance.id': instanceId,
    }),
    spanProcessors: [
      // The endpoint is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT means it.
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    ],
  });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}
