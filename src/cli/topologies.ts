import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import type { Topology } from '../topology/graph.js';
import { ConfigError } from '../errors.js';

/** Topologies that ship with eddy, by name. */
const BUILT_IN: Record<string, () => Topology> = { 'flight-delays': () => buildFlightDelays() };

/**
 * The topologies eddy knows: the built-in examples plus those listed in `eddy.config.json` (in the working
 * directory) as `{ "topologies": { "<name>": "<path to a module whose default export builds a Topology>" } }`.
 */
export async function knownTopologies(): Promise<Map<string, () => Promise<Topology>>> {
  const out = new Map<string, () => Promise<Topology>>();
  for (const [name, build] of Object.entries(BUILT_IN)) out.set(name, async () => build());
  const configPath = resolve('eddy.config.json');
  if (!existsSync(configPath)) return out;
  let config: { topologies?: Record<string, string> };
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${configPath} is not valid JSON: ${(err as Error).message}`, { path: configPath });
  }
  for (const [name, modulePath] of Object.entries(config.topologies ?? {})) {
    out.set(name, async () => {
      const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown };
      if (typeof mod.default !== 'function')
        throw new ConfigError(`${modulePath} (topology "${name}" in eddy.config.json) must default-export a function that returns a Topology`);
      return (mod.default as () => Topology)();
    });
  }
  return out;
}

/** Loads a topology by name. Throws ConfigError listing the known names. */
export async function loadTopology(name: string): Promise<Topology> {
  const known = await knownTopologies();
  const build = known.get(name);
  if (build === undefined) throw new ConfigError(`Unknown topology "${name}". Known topologies: ${[...known.keys()].join(', ')}. Add yours to eddy.config.json.`);
  return build();
}

/** Finds the topology that declares `store` (optionally within one named topology). */
export async function findStore(store: string, topologyName?: string): Promise<{ topology: Topology }> {
  const known = await knownTopologies();
  const names = topologyName ? [topologyName] : [...known.keys()];
  const all: string[] = [];
  for (const n of names) {
    const t = await loadTopology(n);
    if (t.stores.has(store)) return { topology: t };
    all.push(...[...t.stores.keys()].map((s) => `${s} (${t.name})`));
  }
  throw new ConfigError(`Unknown state store "${store}". Known stores: ${all.join(', ') || '(none)'}.`);
}
