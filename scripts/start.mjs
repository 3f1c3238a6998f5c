// `npm start` will run the example PDV app (examples/pdv-app) once it exists.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const app = new URL('../examples/pdv-app/package.json', import.meta.url);
if (!existsSync(app)) {
  console.log(
    [
      'The example PDV app (examples/pdv-app) is not built yet, so there is nothing to start.',
      'What exists today: @bancada/cache, @bancada/session, @bancada/limits and @bancada/realtime (see their READMEs), and `npm test`.',
    ].join('\n'),
  );
  process.exit(0);
}
const child = spawn('npm', ['start', '--workspace', 'examples/pdv-app'], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));
