/**
 * The checks and preparations of `eddy replay <topology> --version N` that come before the version runs: retention
 * (records of an input deleted before this version read them), outputs left by an earlier run (`--reset` deletes
 * them, printing what first), and `--from <time>` (the version's positions set from the inputs' offsets for that
 * time). Running the version is the CLI's part (src/cli/versions.ts, with the runtime's `TopologyRunner`).
 */

import { EddyError } from '../errors.js';
import type { Log, TopicPartitionOffset } from '../log/contract.js';
import type { ListedRun, RunKind } from '../runs/record.js';
import type { Topology } from '../topology/graph.js';
import { checkResettable, resetVersion, type VersionRecord } from './registry.js';
import { type DeletionPlan, deletePlanned, describeRuns, openRunsOf, planVersionDeletion } from './retire.js';
import { inputLag } from './status.js';

/** An input partition whose first records were deleted (retention, DeleteRecords) before this version read them. */
export interface TruncatedInput {
  readonly topic: string;
  readonly partition: number;
  /** The partition's log start. */
  readonly low: number;
  /** Where the version would start reading (its committed position, or 0). */
  readonly position: number;
  /** Records the version will never see: `low - position`. */
  readonly goneRecords: number;
}

/**
 * Input partitions of `t` whose log start is above where the version will start: `opts.from` (`--from`), else 0 with
 * `opts.fromStart` (`--reset`), else its committed position (0 when it committed nothing).
 */
export async function truncatedInputs(
  log: Log,
  t: Topology,
  opts: { from?: ReadonlyMap<string, number>; fromStart?: boolean } = {},
): Promise<TruncatedInput[]> {
  const out: TruncatedInput[] = [];
  for (const info of t.topics.values()) {
    if (info.role !== 'source' || (await log.describeTopic(info.name)) === undefined) continue;
    const committed = await log.committedOffsets(t.groupId, info.name);
    for (const o of await log.offsets(info.name)) {
      const position =
        opts.from?.get(`${info.name}:${o.partition}`) ??
        (opts.fromStart ? 0 : (committed.get(o.partition)?.offset ?? 0));
      if (o.low > position)
        out.push({ topic: info.name, partition: o.partition, low: o.low, position, goneRecords: o.low - position });
    }
  }
  return out;
}

/**
 * Refusal to run a version that another process runs in a way that cannot share it: `eddy replay` reads through a
 * reader group of its own (`<topology>.replay.v<N>`), so it and a worker or `eddy run` of the same version would
 * each own every task, and their transactional producers would fence each other in turn (KIP-98 zombie fencing).
 */
export class VersionRunningError extends EddyError {
  constructor(topology: string, version: number, kind: RunKind, runs: readonly ListedRun[]) {
    super(
      'VERSION_RUNNING',
      `${topology} version ${version} is already running: ${describeRuns(runs).join('; ')}. ` +
        (kind === 'replay'
          ? `A worker or \`eddy run\` runs every version not retired, a replaying one too, from one read of the inputs: follow it with \`eddy versions ${topology}\`, or stop that process before \`eddy replay\`.`
          : `Let the replay finish (it records the version caught-up; follow it with \`eddy versions ${topology}\`), or stop it, then run again.`),
      { details: { topology, version, runs: runs.map((r) => r.runId) } },
    );
  }
}

/**
 * Refuses, before any write, to start a run of kind `kind` of `t` beside an open run (src/runs `isOpenRun`) it would
 * fight over tasks with: `eddy replay` beside any open run of the version, and a worker or `eddy run` beside an open
 * `eddy replay` of it. Workers and `eddy run` beside each other share the version's tasks through the reader group,
 * as members do. Throws `VersionRunningError` naming the runs (kind, run id, host, pid).
 */
export async function refuseConcurrentRun(log: Log, t: Topology, kind: RunKind): Promise<void> {
  const open = (await openRunsOf(log, t.name, t.version)).filter((r) => kind === 'replay' || r.kind === 'replay');
  if (open.length > 0) throw new VersionRunningError(t.name, t.version, kind, open);
}

/** Refusal of a replay whose inputs lost records (without `--allow-truncated-input`). */
export class TruncatedInputError extends EddyError {
  constructor(topology: string, version: number, gone: readonly TruncatedInput[]) {
    const total = gone.reduce((n, g) => n + g.goneRecords, 0);
    super(
      'TRUNCATED_INPUT',
      `${topology} version ${version} cannot replay its whole input: ${total} record(s) were deleted before it read them (${gone
        .map((g) => `${g.topic}:${g.partition} starts at ${g.low}`)
        .join(
          ', ',
        )}). Its results would differ from a run over the full log. Restore the input from its source of truth, or accept the gap with --allow-truncated-input.`,
      { details: { topology, version, gone: [...gone], goneRecords: total } },
    );
  }
}

/** Refusal of a replay over outputs left by a finished run (without `--reset`). */
export class ReplayOverOutputsError extends EddyError {
  constructor(topology: string, version: number, state: string, plan: DeletionPlan) {
    super(
      'REPLAY_OVER_OUTPUTS',
      `${topology} version ${version} is ${state} and already has outputs (${plan.topics
        .filter((t) => t.records > 0)
        .map((t) => `${t.name}: ${t.records}`)
        .join(', ')}). It continues from its committed positions with \`eddy worker\`; ${
        state === 'live'
          ? 'a live version is never replayed over (readers follow it): to run the code from the start, bump the version and replay that.'
          : 'to replay it from the start, add --reset (deletes them first).'
      }`,
      { details: { topology, version, state } },
    );
  }
}

/**
 * What a replay of `t` would start over: the deletion plan (outputs, changelogs, repartition and dead-letter topics,
 * the consumer group's offsets, the state directory). Refuses with `ReplayOverOutputsError` when the version has
 * outputs, is past `replaying` and `reset` is false; a version still `replaying` resumes from its positions. With
 * `reset`, refuses a live or retired version first (`VersionStateError`).
 */
export async function planReplay(
  log: Log,
  t: Topology,
  rec: VersionRecord,
  opts: { stateDir: string; reset: boolean },
): Promise<{ plan: DeletionPlan; resuming: boolean }> {
  if (opts.reset) checkResettable(rec); // before the plan is printed as what --reset deletes
  const plan = await planVersionDeletion(log, { topology: t.name, version: t.version, t, stateDir: opts.stateDir });
  const hasOutputs = plan.topics.some((x) => x.records > 0) || plan.stateDirExists;
  if (hasOutputs && !opts.reset && rec.state !== 'replaying')
    throw new ReplayOverOutputsError(t.name, t.version, rec.state, plan);
  const committed = (await inputLag(log, t)).some((l) => l.position > 0);
  // Not `hasOutputs`: a state directory alone (say, left by a run on another backend) is no position to resume from.
  return { plan, resuming: !opts.reset && committed };
}

/**
 * `--reset`: deletes everything in the plan and starts the version's registry record over (`replaying`, no
 * positions). Refuses a live or retired version (`VersionStateError`) before deleting anything.
 */
export async function resetReplay(log: Log, t: Topology, plan: DeletionPlan): Promise<void> {
  await resetVersion(log, t.name, t.version);
  await deletePlanned(log, plan);
}

/**
 * `--from <time>`: per input partition of `t`, the first offset whose timestamp is >= `timestampMs` (the high
 * watermark when there is none), `<topic>:<partition>` → offset. Reads only.
 */
export async function positionsAtTime(log: Log, t: Topology, timestampMs: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const info of t.topics.values()) {
    if (info.role !== 'source') continue;
    for (const [partition, offset] of await log.offsetsForTime(info.name, timestampMs))
      out.set(`${info.name}:${partition}`, offset);
  }
  return out;
}

/** Commits `positions` (from `positionsAtTime`) for the version's consumer group, member-less; the version must not run. */
export async function commitPositions(log: Log, t: Topology, positions: ReadonlyMap<string, number>): Promise<void> {
  const offsets: TopicPartitionOffset[] = [...positions].map(([tp, offset]) => {
    const i = tp.lastIndexOf(':');
    return { topic: tp.slice(0, i), partition: Number(tp.slice(i + 1)), offset };
  });
  await log.commitOffsets(t.groupId, offsets);
}
