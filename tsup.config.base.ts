import { defineConfig } from 'tsup';

/**
 * Every package builds the same way: ESM and CommonJS with types, for Node 20. What the
 * packages share (`@bancada/internal`, never published) is bundled into each, code and
 * types, so that each installs and works alone. (Its types are found through `paths`: the
 * declaration bundler inlines only what it resolves to files.)
 */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: {
    resolve: [/^@bancada\/internal/],
    compilerOptions: {
      paths: {
        '@bancada/internal': ['../internal/src/index.ts'],
        '@bancada/internal/wire': ['../internal/src/wire/index.ts'],
      },
    },
  },
  noExternal: [/^@bancada\/internal/],
  // import.meta.url in the CommonJS build too (the optional @opentelemetry/api is found from it).
  shims: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
