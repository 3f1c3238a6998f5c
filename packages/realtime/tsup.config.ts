import { defineConfig } from 'tsup';
import base from '../../tsup.config.base.js';

/** The hub, the client SDK (no dependencies, for browsers and Node) and the worker CLI. */
export default defineConfig({
  ...base,
  entry: {
    index: 'src/index.ts',
    client: 'src/client/index.ts',
    'worker-cli': 'src/worker/cli.ts',
  },
});
