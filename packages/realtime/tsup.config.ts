import { defineConfig } from 'tsup';
import base from '../../tsup.config.base.js';

/** The hub and the worker CLI. */
export default defineConfig({
  ...base,
  entry: {
    index: 'src/index.ts',
    'worker-cli': 'src/worker/cli.ts',
  },
});
