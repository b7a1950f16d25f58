import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { loadConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { Topology } from '../topology/graph.js';

/** Topologies that ship with eddy, by name. */
const BUILT_IN: Record<string, () => Topology> = { 'flight-delays': () => buildFlightDelays() };

/**
 * The topologies eddy knows: the built-in examples plus those registered in the configuration's `topologies`
 * (`{ "topologies": { "<name>": "<path to a module whose default export builds a Topology>" } }` in
 * `eddy.config.json`; paths relative to that file). Without `registered`, reads `eddy.config.json` in the working
 * directory.
 */
export async function knownTopologies(
  registered?: Readonly<Record<string, string>>,
): Promise<Map<string, () => Promise<Topology>>> {
  const out = new Map<string, () => Promise<Topology>>();
  for (const [name, build] of Object.entries(BUILT_IN)) out.set(name, async () => build());
  for (const [name, modulePath] of Object.entries(registered ?? loadConfig({ env: {} }).config.topologies)) {
    out.set(name, async () => {
      let mod: { default?: unknown };
      try {
        mod = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown };
      } catch (err) {
        throw new ConfigError(
          `topologies.${name}: cannot load ${modulePath}: ${(err as Error).message}. Check the path (relative to the config file) and build the module first.`,
          {
            path: modulePath,
          },
        );
      }
      if (typeof mod.default !== 'function')
        throw new ConfigError(
          `topologies.${name}: ${modulePath} must default-export a function that returns a Topology`,
          { path: modulePath },
        );
      return (mod.default as () => Topology)();
    });
  }
  return out;
}

/** Loads a topology by name. Throws ConfigError listing the known names. */
export async function loadTopology(name: string, registered?: Readonly<Record<string, string>>): Promise<Topology> {
  const known = await knownTopologies(registered);
  const build = known.get(name);
  if (build === undefined)
    throw new ConfigError(
      `Unknown topology "${name}". Known topologies: ${[...known.keys()].join(', ')}. Add yours to eddy.config.json.`,
    );
  return build();
}

/** Finds the topology that declares `store` (optionally within one named topology). */
export async function findStore(
  store: string,
  topologyName?: string,
  registered?: Readonly<Record<string, string>>,
): Promise<{ topology: Topology }> {
  const known = await knownTopologies(registered);
  const names = topologyName ? [topologyName] : [...known.keys()];
  const all: string[] = [];
  for (const n of names) {
    const t = await loadTopology(n, registered);
    if (t.stores.has(store)) return { topology: t };
    all.push(...[...t.stores.keys()].map((s) => `${s} (${t.name})`));
  }
  throw new ConfigError(`Unknown state store "${store}". Known stores: ${all.join(', ') || '(none)'}.`);
}
