/**
 * Which tables `eddy sql` and `GET /sql` expose: every store of the live version of every topology (as `<store>` and
 * `<store>_v<N>`), every store of version N too with `--version N` (as `<store>_v<N>`), and each `--topic T` (as
 * `"T"`, its latest value per key).
 */
import type { Log } from '../log/contract.js';
import { recordedNote, recordedView } from '../replay/recorded.js';
import { liveVersionOf, readVersions } from '../replay/registry.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { type SqlPlan, storesPlan, type TablePlan, topicTablePlan } from './plan.js';

/**
 * The plan of the stores of `topologies` (each entry: every version of one topology, as the code defines them) and
 * of `topics`. The main version of a topology is its live version, else the first version given.
 */
export async function sqlPlanFor(o: {
  log: Log;
  registry: SchemaRegistry;
  stateDir: string;
  topologies: readonly (readonly Topology[])[];
  version?: number;
  topics?: readonly string[];
}): Promise<SqlPlan> {
  const snap = await readVersions(o.log);
  const candidates: TablePlan[] = [];
  const notes: string[] = [];
  // the stores as their version recorded them (window sizes, schemas), whatever today's code says
  const asRecorded = (t: Topology) => {
    const view = recordedView(t, snap);
    if (view.changes.length > 0) notes.push(recordedNote(t, view.changes));
    return view.topology;
  };
  for (const versions of o.topologies) {
    if (versions.length === 0) continue;
    const live = liveVersionOf(snap, versions[0].name);
    const main = versions.find((v) => v.version === live) ?? versions[0];
    const chosen = [{ topology: asRecorded(main), main: true }];
    const extra = o.version === undefined ? undefined : versions.find((v) => v.version === o.version);
    if (extra !== undefined && extra !== main) chosen.push({ topology: asRecorded(extra), main: false });
    candidates.push(...(await storesPlan(o.registry, o.stateDir, chosen)));
  }
  // A name two topologies share goes to the one with state on disk first (then the first given); both keep what
  // is left of `<store>`, `<store>_v<N>`.
  const withState = candidates.filter((t) => t.files.length > 0);
  const tables: TablePlan[] = [];
  const taken = new Set<string>();
  for (const t of [...withState, ...candidates.filter((c) => c.files.length === 0)]) {
    const names = t.names.filter((n) => !taken.has(n));
    for (const n of names) taken.add(n);
    if (names.length > 0) tables.push({ ...t, names });
  }
  for (const topic of o.topics ?? []) tables.push(await topicTablePlan(o.log, o.registry, topic));
  return { tables, ...(notes.length > 0 ? { notes } : {}) };
}
