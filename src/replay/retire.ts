/**
 * Retire: delete everything a topology version owns (its output, changelog, repartition and dead-letter topics, its
 * consumer group, its state directory, the registry subjects of its internal topics) and record it `retired`. The
 * live version is refused. `planVersionDeletion` also serves `eddy replay --reset` (which keeps the subjects).
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Log } from '../log/contract.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { groupId, replayReaderGroupId, versionId } from '../topology/names.js';
import { VersionStateError } from './errors.js';
import { getVersion, liveVersionOf, readVersions, setVersionState } from './registry.js';
import { ownedTopicsOf, prefixedTopics, topicRecords } from './status.js';

/** Everything of one version that a retire (or a replay reset) deletes. */
export interface DeletionPlan {
  readonly topology: string;
  readonly version: number;
  /** Topics that exist on the log, with their record counts. */
  readonly topics: readonly { readonly name: string; readonly records: number }[];
  /** The version's consumer group `<topology>.v<N>` and the reader group of its replays `<topology>.replay.v<N>`. */
  readonly groups: readonly string[];
  /** `<stateDir>/<topology>.v<N>`, and whether it exists. */
  readonly stateDir: string;
  readonly stateDirExists: boolean;
  /** Registry subjects of the version's internal topics (changelogs, repartition topics). */
  readonly subjects: readonly string[];
}

/**
 * What deleting version `version` of `topology` removes. `t` is the version's code when the code still has it (its
 * topics are then taken from the code as well as from the recorded fingerprint). Reads only.
 */
export async function planVersionDeletion(
  log: Log,
  opts: { topology: string; version: number; t?: Topology; stateDir: string },
): Promise<DeletionPlan> {
  const rec = (await readVersions(log)).versions.get(versionId(opts.topology, opts.version));
  const names = new Set([
    ...ownedTopicsOf(rec?.fingerprint, opts.t),
    ...(await prefixedTopics(log, opts.topology, opts.version)),
  ]);
  const topics: { name: string; records: number }[] = [];
  for (const name of [...names].sort())
    if ((await log.describeTopic(name)) !== undefined) topics.push({ name, records: await topicRecords(log, name) });
  const internal = new Set(ownedTopicsOf(rec?.fingerprint, opts.t, ['changelog', 'repartition']));
  const subjects = [...internal].sort().flatMap((topic) => [`${topic}-key`, `${topic}-value`]);
  const dir = join(opts.stateDir, versionId(opts.topology, opts.version));
  return {
    topology: opts.topology,
    version: opts.version,
    topics,
    groups: [groupId(opts.topology, opts.version), replayReaderGroupId(opts.topology, opts.version)],
    stateDir: dir,
    stateDirExists: existsSync(dir),
    subjects,
  };
}

/** Lines describing a plan, for the CLI (`would delete` / `deleted`). */
export function describePlan(plan: DeletionPlan, opts: { subjects: boolean }): string[] {
  const lines = [`topics (${plan.topics.length}):`];
  for (const t of plan.topics) lines.push(`  ${t.name}  ${t.records} record(s)`);
  lines.push(`consumer group: ${plan.groups.join(', ')}`);
  lines.push(`state directory: ${plan.stateDir}${plan.stateDirExists ? '' : ' (absent)'}`);
  if (opts.subjects) lines.push(`registry subjects (${plan.subjects.length}):`, ...plan.subjects.map((s) => `  ${s}`));
  return lines;
}

/** A registry that can delete subjects (the Confluent API has DELETE /subjects/{subject}); eddy's contract has none. */
interface DeletingRegistry {
  deleteSubject(subject: string): Promise<unknown>;
}

function canDelete(registry: SchemaRegistry): registry is SchemaRegistry & DeletingRegistry {
  return typeof (registry as Partial<DeletingRegistry>).deleteSubject === 'function';
}

/** Deletes a plan's topics, groups and state directory (not its subjects). */
export async function deletePlanned(log: Log, plan: DeletionPlan): Promise<void> {
  await log.deleteTopics(plan.topics.map((t) => t.name));
  await log.deleteGroups(plan.groups);
  rmSync(plan.stateDir, { recursive: true, force: true });
}

/** The outcome of `retire`. */
export interface RetireResult {
  readonly plan: DeletionPlan;
  /** Whether the subjects were deleted (false when the registry offers no delete: they stay, harmless). */
  readonly subjectsDeleted: boolean;
}

/**
 * Refuses the live version (`VersionStateError`) and a version the registry does not know (`UnknownVersionError`);
 * returns the plan. With `yes`, deletes everything in it, the subjects if the registry can, and records `retired`.
 */
export async function retire(
  log: Log,
  registry: SchemaRegistry,
  opts: { topology: string; version: number; t?: Topology; stateDir: string; yes: boolean; nowMs?: number },
): Promise<RetireResult> {
  const rec = await getVersion(log, opts.topology, opts.version);
  const live = liveVersionOf(await readVersions(log), opts.topology);
  if (live === opts.version)
    throw new VersionStateError(
      opts.topology,
      opts.version,
      'the live version',
      'retired',
      `Promote another version first (\`eddy promote ${opts.topology} <N>\`), then retire ${opts.version}.`,
    );
  const plan = await planVersionDeletion(log, opts);
  if (!opts.yes) return { plan, subjectsDeleted: false };
  await deletePlanned(log, plan);
  let subjectsDeleted = false;
  if (canDelete(registry)) {
    for (const s of plan.subjects) await registry.deleteSubject(s);
    subjectsDeleted = true;
  }
  if (rec.state !== 'retired') await setVersionState(log, opts.topology, opts.version, 'retired', opts.nowMs);
  return { plan, subjectsDeleted };
}
