import { defineConfig, type Options } from 'tsup';
import base from '../../tsup.config.base.js';

const shared = base as Options;

/**
 * The library (ESM, CommonJS, types), and the `bancada-worker` command: one ESM file, the
 * package's bin, with no types and no CommonJS twin. The two builds run at once, so the
 * library's clean leaves the command's files alone.
 */
export default defineConfig([
  { ...shared, clean: ['!cli.js', '!cli.js.map'] },
  { ...shared, entry: { cli: 'src/cli.ts' }, format: ['esm'], dts: false, clean: false },
]);
