import { defineConfig } from 'tsup';

// An app, not a library: one ESM entry that `npm start` runs, no types.
export default defineConfig({
  entry: ['src/server.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  // Optional dependencies, imported only when tracing is configured: never bundled.
  external: [/^@opentelemetry\//],
});
