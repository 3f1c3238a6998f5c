import { fileURLToPath } from 'node:url';

// This module sits in src/ (tests) or is bundled into dist/server.js (npm start): either
// way one level below the app's folder.

/** The pages and their assets. */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** The browser build of `@bancada/realtime/client` (an ES module with no dependencies). */
export const CLIENT_SDK = fileURLToPath(import.meta.resolve('@bancada/realtime/client'));
