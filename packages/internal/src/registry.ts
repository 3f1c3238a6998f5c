import type { Registry } from 'prom-client';

const claims = new WeakMap<Registry, Set<string>>();

/**
 * The one rule for a caller's prom-client registry, in every package: a registry takes each
 * reporter once. Reporters of a family that can be named (caches, limiters) share the
 * family's metrics, told apart by their name; a family without names (a hub, a worker, a
 * bridge) has one reporter per registry. A second claim of the same name is refused with
 * `invalid`'s error, naming what to change. Returns the release, for `close()`.
 */
export function claimRegistry(
  registry: Registry,
  family: string,
  name: string | undefined,
  invalid: (message: string) => Error,
): () => void {
  let claimed = claims.get(registry);
  if (claimed === undefined) {
    claimed = new Set();
    claims.set(registry, claimed);
  }
  const key = `${family}\0${name ?? ''}`;
  if (claimed.has(key)) {
    throw invalid(
      name === undefined
        ? `a ${family} already reports to this registry: give each ${family} its own registry`
        : `a ${family} named "${name}" already reports to this registry: give each ${family} its own name`,
    );
  }
  claimed.add(key);
  return () => {
    claimed.delete(key);
  };
}

/** How many reporters of `family` the registry has now (its metrics go with the last one). */
export function claimsOf(registry: Registry, family: string): number {
  let count = 0;
  for (const key of claims.get(registry) ?? []) if (key.startsWith(`${family}\0`)) count++;
  return count;
}
