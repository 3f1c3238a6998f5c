// `npm start`: builds what the example PDV app needs (turbo skips what is up to date), then
// runs it on embedded defaults: no Redis, no Postgres server needed.

import { spawn, spawnSync } from 'node:child_process';

const run = (command, args) => {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

run('npx', ['turbo', 'run', 'build', '--filter=@bancada/pdv-app...', '--output-logs=errors-only']);
// node directly, not through npm, so that signals reach the app itself.
const app = spawn(process.execPath, ['dist/server.js'], {
  cwd: new URL('../examples/pdv-app/', import.meta.url),
  stdio: 'inherit',
});
// The app drains on SIGINT/SIGTERM; wait for it rather than exit under it. (Ctrl-C reaches
// it directly: it is in the terminal's foreground process group.)
process.on('SIGINT', () => {});
process.on('SIGTERM', () => app.kill('SIGTERM'));
app.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
