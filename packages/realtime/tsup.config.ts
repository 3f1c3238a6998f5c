import { defineConfig } from 'tsup';
import base from '../../tsup.config.base.js';

/** The hub and the client SDK (no dependencies, for browsers and Node). */
export default defineConfig({
  ...base,
  // No shared chunks: the client SDK is one file of its own, with nothing of the server's
  // (it bundles the wire module, as the server does).
  splitting: false,
  entry: {
    index: 'src/index.ts',
    client: 'src/client/index.ts',
  },
});
