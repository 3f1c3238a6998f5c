// Fails when a tracked file still holds the markers of a merge conflict (<<<<<<< / >>>>>>>):
// Biome reads no Markdown, and a README with both sides of a conflict reads as a real page.
import { execFileSync } from 'node:child_process';

let found = '';
try {
  found = execFileSync('git', ['grep', '-n', '-E', '^(<<<<<<<|>>>>>>>)( |$)'], {
    encoding: 'utf8',
  });
} catch (error) {
  if (error.status !== 1) throw error; // 1: nothing found
}
if (found) {
  console.error(`merge conflict markers left in:\n${found}`);
  process.exit(1);
}
