import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { bundleScripts, type RunningProcess, runNode } from './child-script.js';
import { freePort } from './free-port.js';
import { afterThisTest } from './hub-fixtures.js';
import { waitFor } from './wait-for.js';

/**
 * The code of the `index`-th ```js block in the section of a README under `heading` (up to the
 * next heading of the same level or above). Throws when there is none, so that a README whose
 * example moved fails its test instead of testing nothing.
 */
export function readmeCode(readmePath: string, heading: string, index = 0): string {
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start === -1) throw new Error(`${readmePath} has no heading "${heading}"`);
  const level = /^#+/.exec(heading)?.[0].length ?? 0;
  const blocks: string[] = [];
  let block: string[] | undefined;
  for (const line of lines.slice(start + 1)) {
    if (block !== undefined) {
      if (line.startsWith('```')) {
        blocks.push(block.join('\n'));
        block = undefined;
      } else block.push(line);
      continue;
    }
    const heading = /^(#+) /.exec(line);
    if (heading && heading[1]!.length <= level) break;
    if (line.startsWith('```js')) block = [];
  }
  const code = blocks[index];
  if (code === undefined) {
    throw new Error(`${readmePath} has no js block ${index + 1} under "${heading}"`);
  }
  return code;
}

/** A README's example running as an app. */
export interface ReadmeApp {
  /** http://127.0.0.1:<PORT> */
  url: string;
  process: RunningProcess;
}

/**
 * Runs `code` (an ES module, as a README shows it) as a node process, as a user would after
 * pasting it: bundled like `bundleScripts` (third-party packages from node_modules, and
 * `sources` from their source), with `env` and a free `PORT`. Resolves once it answers HTTP on
 * that port; fails with its output if it exits first. Stopped after the test.
 */
export async function runReadmeApp(
  packageDir: string,
  code: string,
  {
    env = {},
    sources = {},
  }: { env?: Record<string, string | undefined>; sources?: Record<string, string> } = {},
): Promise<ReadmeApp> {
  const dir = packageDir.endsWith('/') ? packageDir : `${packageDir}/`;
  const folder = `${dir}test-output/readme-${process.pid}-${Date.now()}`;
  await mkdir(folder, { recursive: true });
  afterThisTest(() => rm(folder, { recursive: true, force: true }));
  await writeFile(`${folder}/app.mjs`, code);
  const bundle = await bundleScripts(
    dir,
    { app: `${folder.slice(dir.length)}/app.mjs` },
    { sources },
  );
  afterThisTest(() => bundle.remove());
  const port = await freePort();
  const child = runNode(bundle.paths.app!, [], { ...env, PORT: String(port) });
  afterThisTest(() => stop(child));
  const url = `http://127.0.0.1:${port}`;
  let exit: string | undefined;
  void child.exited.then(({ code, signal }) => {
    exit = `exited (${code ?? signal}):\n${child.stdout}\n${child.stderr}`;
  });
  await waitFor(
    'the README app to answer',
    async () => {
      if (exit !== undefined) throw new Error(`the README app ${exit}`);
      return fetch(url).then(
        () => true,
        () => false,
      );
    },
    20_000,
  );
  return { url, process: child };
}

/** SIGTERM, as a platform stops an app; SIGKILL if it is still there 5 s later. */
async function stop(child: RunningProcess): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
}
