// Runs the named benchmark suites (all of them without arguments): `npm run bench -- cache`.
const suites = {
  cache: () => import('./cache/run.mjs'),
  'cache-cluster': () => import('./cache-cluster/run.mjs'),
  limits: () => import('./limits/run.mjs'),
  'limits-failover': () => import('./limits/failover.mjs'),
  session: () => import('./session/run.mjs'),
  realtime: () => import('./realtime/run.mjs'),
  tracing: () => import('./tracing/run.mjs'),
  'realtime-cluster': () => import('./realtime-cluster/run.mjs'),
  worker: () => import('./worker/run.mjs'),
  'pdv-app': () => import('./pdv-app/run.mjs'),
};

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
for (const name of wanted) {
  if (!(name in suites)) {
    console.error(`unknown suite "${name}"; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
}
for (const name of wanted.length > 0 ? wanted : Object.keys(suites)) {
  const suite = await suites[name]();
  await suite.run(process.argv.slice(2));
}
