import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { loadConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { liveVersionOf, readVersions, versionsOf } from '../replay/registry.js';
import type { Topology } from '../topology/graph.js';

/** Topologies that ship with eddy, by name: each builds one version or several. */
const BUILT_IN: Record<string, () => Topology | Topology[]> = { 'flight-delays': () => flightDelaysVersions() };

/**
 * Where a topology's versions come from in `eddy.config.json` `topologies`: one module path, or one module per
 * version (`{ "flight-delays": ["./v1.js", "./v2.js"] }`); paths relative to that file.
 */
export type TopologyModules = Readonly<Record<string, string | readonly string[]>>;

/**
 * The topologies eddy knows: those registered in the configuration's `topologies`, and the built-in examples only
 * where no topology is registered (eddy's own repository, a bare directory) — a project's own `eddy.config.json`
 * defines which topologies exist, so the demo's never mix into a user's project (`eddy demo` passes `{}` to reach
 * them anywhere). Each entry loads every version of one topology. A module's default export may be:
 * - a function returning a `Topology` (one version; the original form),
 * - a function returning an array of them, or an array of `Topology` values and/or such functions (several versions,
 *   e.g. `export default [buildV1, buildV2]`).
 * Without `registered`, reads `eddy.config.json` in the working directory.
 */
export async function knownTopologies(registered?: TopologyModules): Promise<Map<string, () => Promise<Topology[]>>> {
  const out = new Map<string, () => Promise<Topology[]>>();
  const modules = registered ?? loadConfig({ env: {} }).config.topologies;
  if (Object.keys(modules).length === 0)
    for (const [name, build] of Object.entries(BUILT_IN))
      out.set(name, async () => checkVersions(name, [build()].flat()));
  for (const [name, paths] of Object.entries(modules)) {
    out.set(name, async () => {
      const all: Topology[] = [];
      for (const modulePath of typeof paths === 'string' ? [paths] : paths)
        all.push(...(await importVersions(name, modulePath)));
      return checkVersions(name, all);
    });
  }
  return out;
}

async function importVersions(name: string, modulePath: string): Promise<Topology[]> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(modulePath)).href)) as { default?: unknown };
  } catch (err) {
    throw new ConfigError(
      `topologies.${name}: cannot load ${modulePath}: ${(err as Error).message}. Check the path (relative to the config file) and build the module first.`,
      { path: modulePath },
    );
  }
  const bad = () =>
    new ConfigError(
      `topologies.${name}: ${modulePath} must default-export a function that returns a Topology, or an array of Topologies or such functions (one per version)`,
      { path: modulePath },
    );
  const items = Array.isArray(mod.default) ? mod.default : [mod.default];
  const out: Topology[] = [];
  for (const item of items) {
    const built = typeof item === 'function' ? (item as () => unknown)() : item;
    for (const t of [built].flat()) {
      if (t === null || typeof t !== 'object' || typeof (t as Topology).version !== 'number' || !(t as Topology).stores)
        throw bad();
      out.push(t as Topology);
    }
  }
  if (out.length === 0) throw bad();
  return out;
}

function checkVersions(name: string, versions: Topology[]): Topology[] {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].version === sorted[i - 1].version)
      throw new ConfigError(
        `topologies.${name}: version ${sorted[i].version} is defined twice; give each version its own number`,
      );
    if (sorted[i].name !== sorted[0].name)
      throw new ConfigError(
        `topologies.${name}: its versions name different topologies ("${sorted[0].name}", "${sorted[i].name}"); every version keeps the topology's name`,
      );
  }
  return sorted;
}

/** Every version of a topology, sorted by version. Throws ConfigError listing the known names. */
export async function loadVersions(name: string, registered?: TopologyModules): Promise<Topology[]> {
  const known = await knownTopologies(registered);
  const build = known.get(name);
  if (build === undefined) {
    const example =
      name in BUILT_IN
        ? ` "${name}" is eddy's example: it exists where eddy.config.json registers no topology (eddy's own repository) and through \`eddy demo\`.`
        : '';
    throw new ConfigError(
      `Unknown topology "${name}". Known topologies: ${[...known.keys()].join(', ') || '(none)'}. Add yours to eddy.config.json (topologies).${example}`,
    );
  }
  return build();
}

/** One version of a topology (`version`), else its highest. Throws ConfigError naming the versions there are. */
export async function loadTopology(name: string, registered?: TopologyModules, version?: number): Promise<Topology> {
  return pickVersion(name, await loadVersions(name, registered), version);
}

function pickVersion(name: string, versions: Topology[], version: number | undefined): Topology {
  if (version === undefined) return versions[versions.length - 1];
  const t = versions.find((v) => v.version === version);
  if (t === undefined)
    throw new ConfigError(
      `${name} has no version ${version} in its code (versions: ${versions.map((v) => `v${v.version}`).join(', ')}). Add it to the topology module.`,
    );
  return t;
}

/**
 * The version of a topology to act on: `version` when given, else the live version in the versions registry, else
 * the highest version in the code.
 */
export async function resolveVersion(
  log: Log,
  name: string,
  version?: number,
  registered?: TopologyModules,
): Promise<Topology> {
  const versions = await loadVersions(name, registered);
  if (version !== undefined) return pickVersion(name, versions, version);
  const live = liveVersionOf(await readVersions(log), versions[0].name);
  return pickVersion(name, versions, live !== undefined && versions.some((v) => v.version === live) ? live : undefined);
}

/**
 * Finds the topology version that declares `store`, among every known topology (or `topologyName`) and every version
 * (or `opts.version`). When several match and `opts.liveVersion` names the live version of the one topology they
 * belong to, that one; otherwise two or more candidates are an error that lists them with the flags that choose one.
 */
export async function findStore(
  store: string,
  topologyName?: string,
  registered?: TopologyModules,
  opts: { version?: number; liveVersion?: (topology: string) => number | undefined } = {},
): Promise<{ topology: Topology }> {
  const known = await knownTopologies(registered);
  const names = topologyName ? [topologyName] : [...known.keys()];
  const all: string[] = [];
  const candidates: { entry: string; topology: Topology }[] = [];
  /** Versions with the store that `opts.version` left out. */
  const elsewhere: string[] = [];
  for (const n of names) {
    for (const t of await loadVersions(n, registered)) {
      if (opts.version !== undefined && t.version !== opts.version) {
        if (t.stores.has(store)) elsewhere.push(`${n} v${t.version}`);
        continue;
      }
      if (t.stores.has(store)) candidates.push({ entry: n, topology: t });
      all.push(...[...t.stores.keys()].map((s) => `${s} (${t.name} v${t.version})`));
    }
  }
  if (candidates.length === 1) return { topology: candidates[0].topology };
  if (candidates.length === 0 && elsewhere.length > 0)
    throw new ConfigError(
      `State store "${store}" is in no version ${opts.version} of a topology's code; it is in ${elsewhere.join(', ')}. Pick one of those with --version.`,
    );
  if (candidates.length === 0)
    throw new ConfigError(`Unknown state store "${store}". Known stores: ${all.join(', ') || '(none)'}.`);
  const entries = new Set(candidates.map((c) => c.entry));
  if (entries.size === 1 && opts.liveVersion !== undefined) {
    const live = opts.liveVersion(candidates[0].topology.name);
    const hit = candidates.find((c) => c.topology.version === live);
    if (hit !== undefined) return { topology: hit.topology };
  }
  throw new ConfigError(
    `State store "${store}" is in ${candidates.length} topology versions: ${candidates
      .map((c) => `${c.entry} v${c.topology.version} (--topology ${c.entry} --version ${c.topology.version})`)
      .join(', ')}. Name one with --topology and --version.`,
    { store, candidates: candidates.map((c) => ({ topology: c.entry, version: c.topology.version })) },
  );
}

/**
 * The versions `eddy run` and `eddy worker` run: `version` when given; else every version the versions registry knows
 * for this topology that is not retired (the live one and those replaying beside it, read once for all); else, for a
 * topology that never ran, its lowest version. A version reaches the registry by running once (`eddy replay`).
 * Throws ConfigError for a version the code does not define.
 */
export async function versionsToRun(
  log: Log,
  name: string,
  registered?: TopologyModules,
  version?: number,
): Promise<Topology[]> {
  const versions = await loadVersions(name, registered);
  if (version !== undefined) return [pickVersion(name, versions, version)];
  const recorded = versionsOf(await readVersions(log), versions[0].name).filter((r) => r.state !== 'retired');
  const run = versions.filter((v) => recorded.some((r) => r.version === v.version));
  return run.length > 0 ? run : [versions[0]];
}
