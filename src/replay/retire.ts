/**
 * Retire: record a topology version `retired`, wait until no process runs it any more, then delete everything it owns
 * (its output, changelog, repartition and dead-letter topics, its consumer group, its state directory, the registry
 * subjects of its internal topics). The live version is refused. `planVersionDeletion` also serves
 * `eddy replay --reset` (which keeps the subjects).
 *
 * Why in that order: a runner running the version reads the registry every `RETIRED_CHECK_MS` and stops running it
 * when it is recorded `retired` (src/runtime/registry-sync.ts); it then ends its run record (`eddy.meta.runs`, exit
 * `retired`). Deleting before that would make the runner fail on, or (Kafka auto-create) recreate, the deleted
 * topics. States move forward only, so `retired` is recorded first and a timed-out wait leaves the version retired
 * with its deletion pending: `retire` of a retired version finishes it.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EddyError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { isOpenRun, type ListedRun, readRuns } from '../runs/record.js';
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
  /**
   * Topics that exist on the log, with their record counts: the offset span (high − low) summed over partitions. On
   * Kafka a transaction's commit marker takes an offset too, so there the span counts markers as well
   * (`countsMarkers`); counting records only would mean reading every topic.
   */
  readonly topics: readonly { readonly name: string; readonly records: number }[];
  /** True on Kafka: `topics[].records` includes transaction markers (see `topics`). */
  readonly countsMarkers: boolean;
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
    countsMarkers: log.kind === 'kafka',
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
  const unit = plan.countsMarkers ? 'offset(s) (records and transaction markers)' : 'record(s)';
  for (const t of plan.topics) lines.push(`  ${t.name}  ${t.records} ${unit}`);
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

/** How long `retire --yes` waits by default for the processes running the version to stop running it, ms. */
export const RETIRE_WAIT_MS = 60_000;
/** How often `retire` reads the run records while it waits, ms. */
const RUNS_POLL_MS = 250;

/**
 * The runs of a version that are open (src/runs `isOpenRun`: no end written, the process alive, the record rewritten
 * within `KILLED_AFTER_MS`). A record left open by a SIGKILLed process is not open.
 */
export async function openRunsOf(
  log: Log,
  topology: string,
  version: number,
  nowMs = Date.now(),
): Promise<ListedRun[]> {
  return (await readRuns(log, topology, nowMs)).filter((r) => r.version === version && isOpenRun(r, nowMs));
}

/**
 * A warning when no open worker or `eddy run` runs version `version` (from the run records; an `eddy replay` does not
 * count: it stops at the inputs' end), else undefined. A running worker whose code defines the version starts it by
 * itself within `FOLLOW_CHECK_MS` (src/runtime/follow.ts); none running, nothing processes the version's inputs.
 */
export async function unservedWarning(log: Log, topology: string, version: number): Promise<string | undefined> {
  const open = (await openRunsOf(log, topology, version)).filter((r) => r.kind !== 'replay');
  if (open.length > 0) return undefined;
  return (
    `no worker runs ${topology} version ${version} now (no open run of it in eddy.meta.runs): readers follow it, but ` +
    `nothing processes its new input until one does. A running worker whose code defines version ${version} starts it ` +
    `within seconds; else start one: \`eddy worker ${topology}\`.`
  );
}

/** One line per open run: `<kind> <run id> on <host> pid <pid>, last seen <n> s ago`. */
export function describeRuns(runs: readonly ListedRun[], nowMs = Date.now()): string[] {
  return runs.map(
    (r) =>
      `${r.kind} ${r.runId} on ${r.host} pid ${r.pid}, last written ${Math.round((nowMs - r.updatedMs) / 1000)} s ago`,
  );
}

/**
 * `retire --yes` recorded the version retired but a process still runs it after the wait: nothing was deleted. The
 * version stays retired (runners stop running it); `eddy retire` again finishes the deletion.
 */
export class RetirePendingError extends EddyError {
  constructor(topology: string, version: number, waitedMs: number, runs: readonly ListedRun[]) {
    super(
      'RETIRE_PENDING',
      `${topology} version ${version} is recorded retired, but after ${waitedMs} ms ${runs.length} process(es) still run it: ` +
        `${describeRuns(runs).join('; ')}. Nothing was deleted yet. A worker stops running a retired version within seconds; ` +
        `check that process (an older eddy does not), then run \`eddy retire ${topology} ${version} --yes\` again to finish ` +
        `the deletion (or pass a longer --wait-ms).`,
      { details: { topology, version, waitedMs, runs: runs.map((r) => r.runId) } },
    );
  }
}

/**
 * Waits until no run of the version is open (`openRunsOf`), up to `waitMs`; `onWaiting` hears the open runs each time
 * they change. Throws `RetirePendingError` when some are still open after `waitMs`.
 */
export async function waitForRunsToEnd(
  log: Log,
  opts: { topology: string; version: number; waitMs: number; onWaiting?: (runs: readonly ListedRun[]) => void },
): Promise<void> {
  const startMs = Date.now();
  let seen = '';
  for (;;) {
    const open = await openRunsOf(log, opts.topology, opts.version);
    if (open.length === 0) return;
    const ids = open.map((r) => r.runId).join(',');
    if (ids !== seen) {
      seen = ids;
      opts.onWaiting?.(open);
    }
    const waitedMs = Date.now() - startMs;
    if (waitedMs >= opts.waitMs) throw new RetirePendingError(opts.topology, opts.version, opts.waitMs, open);
    await new Promise((r) => setTimeout(r, Math.min(RUNS_POLL_MS, opts.waitMs - waitedMs)));
  }
}

/** The outcome of `retire`. */
export interface RetireResult {
  readonly plan: DeletionPlan;
  /** Whether the subjects were deleted (false when the registry offers no delete: they stay, harmless). */
  readonly subjectsDeleted: boolean;
  /** The runs of the version open when the plan was made (without `yes`: the processes a retire would stop). */
  readonly openRuns: readonly ListedRun[];
  /** The version was already retired (a deletion left pending, or done, by an earlier retire). */
  readonly wasRetired: boolean;
  /** With `yes`: a warning when no open worker or `eddy run` runs the live version (`unservedWarning`). */
  readonly liveUnserved?: string;
}

/**
 * Refuses the live version (`VersionStateError`) and a version the registry does not know (`UnknownVersionError`);
 * returns the plan. With `yes`: records the version `retired` (first: runners stop running it), waits up to `waitMs`
 * (default `RETIRE_WAIT_MS`) until no process runs it (else throws `RetirePendingError`, deleting nothing), then
 * deletes everything in the plan and the subjects if the registry can. Retiring a retired version finishes a pending
 * deletion (and deletes nothing more when it was done).
 */
export async function retire(
  log: Log,
  registry: SchemaRegistry,
  opts: {
    topology: string;
    version: number;
    t?: Topology;
    stateDir: string;
    yes: boolean;
    nowMs?: number;
    waitMs?: number;
    onWaiting?: (runs: readonly ListedRun[]) => void;
  },
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
  const wasRetired = rec.state === 'retired';
  const openRuns = await openRunsOf(log, opts.topology, opts.version);
  if (!opts.yes) return { plan: await planVersionDeletion(log, opts), subjectsDeleted: false, openRuns, wasRetired };
  if (!wasRetired) await setVersionState(log, opts.topology, opts.version, 'retired', opts.nowMs);
  await waitForRunsToEnd(log, { ...opts, waitMs: opts.waitMs ?? RETIRE_WAIT_MS });
  // A runner's last registry write raced with ours? It read the record before `retired` was appended: record it again.
  if ((await getVersion(log, opts.topology, opts.version)).state !== 'retired')
    await setVersionState(log, opts.topology, opts.version, 'retired', opts.nowMs);
  // planned after the wait: the runners that stopped may have created topics meanwhile
  const plan = await planVersionDeletion(log, opts);
  await deletePlanned(log, plan);
  let subjectsDeleted = false;
  if (canDelete(registry)) {
    for (const s of plan.subjects) await registry.deleteSubject(s);
    subjectsDeleted = true;
  }
  const live2 = liveVersionOf(await readVersions(log), opts.topology);
  const liveUnserved = live2 === undefined ? undefined : await unservedWarning(log, opts.topology, live2);
  return { plan, subjectsDeleted, openRuns, wasRetired, liveUnserved };
}
