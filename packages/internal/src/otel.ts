import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

/** `@opentelemetry/api`, as the app installed it. */
export type Otel = typeof OtelApi;

let looked = false;
let found: Otel | undefined;

/**
 * `@opentelemetry/api` when the app has it installed (an optional peer dependency), else
 * undefined. Looked for once, on first use, never at import: an app without it pays nothing.
 * It is found from the package that bundles this file, as the app's own import finds it, and
 * its copies, ESM and CommonJS, share one global tracer provider.
 */
export function optionalOtel(): Otel | undefined {
  if (!looked) {
    looked = true;
    try {
      found = createRequire(import.meta.url)('@opentelemetry/api') as Otel;
    } catch {
      found = undefined;
    }
  }
  return found;
}
