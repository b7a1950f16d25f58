/**
 * Promote: make a caught-up version the live one (the version readers follow: `eddy inspect`, `/stores`, the read
 * helpers). Refused unless the version's fingerprint equals the code's and its lag is within a bound on every input
 * partition.
 */
import type { Log } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';
import { FingerprintMismatchError, NotCaughtUpError, PositionsBackwardError, VersionStateError } from './errors.js';
import { type FingerprintGuarantee, fingerprintChanges, fingerprintOf } from './fingerprint.js';
import {
  getVersion,
  liveVersionOf,
  readVersions,
  recordPositions,
  setLiveVersion,
  setVersionState,
  versionsOf,
} from './registry.js';
import { unservedWarning } from './retire.js';
import { inputLag, type PartitionLag } from './status.js';

/**
 * Default bound on the lag of a version being promoted: at most this many records behind the head on each input
 * partition (a version running beside the live one is never exactly at the head while records arrive).
 */
export const DEFAULT_MAX_LAG_RECORDS = 1_000;

/** A topology version that reads an output topic of another topology's version (it follows that version). */
export interface Follower {
  readonly topology: string;
  readonly version: number;
  readonly topic: string;
}

/** What `promote` did. */
export interface PromoteResult {
  readonly topology: string;
  readonly version: number;
  /** The version that was live before, if another. */
  readonly previousLive?: number;
  readonly lag: readonly PartitionLag[];
  /** Topology versions (from `others`) reading the previous live version's outputs: they keep following it. */
  readonly followers: readonly Follower[];
  /**
   * Notes for the user: positions not recorded because the registry was ahead; no open worker or `eddy run` of the
   * version (from the run records, src/runs): nothing processes its inputs until one runs it.
   */
  readonly warnings: readonly string[];
}

/**
 * Promotes version `t` (its code) of its topology. Throws `UnknownVersionError` (never ran),
 * `VersionStateError` (retired), `FingerprintMismatchError` (code changed since it ran) or `NotCaughtUpError`
 * (lag above `maxLagRecords` on some input partition). Moves `replaying` → `caught-up` → `live` (or a superseded
 * version back to `live`: a roll-back), names it live, and moves the version live before to `superseded` (still run
 * by the workers running it, until `eddy retire`).
 * `others`: the other known topology versions, to list those reading the previous live version's outputs.
 */
export async function promote(
  log: Log,
  t: Topology,
  opts: {
    processingGuarantee?: FingerprintGuarantee;
    maxLagRecords?: number;
    others?: readonly Topology[];
    nowMs?: number;
  } = {},
): Promise<PromoteResult> {
  const maxLagRecords = opts.maxLagRecords ?? DEFAULT_MAX_LAG_RECORDS;
  const rec = await getVersion(log, t.name, t.version);
  if (rec.state === 'retired')
    throw new VersionStateError(
      t.name,
      t.version,
      'retired',
      'live',
      'Its topics and state were deleted: replay a new version.',
    );
  const fp = fingerprintOf(t, opts);
  if (fp.hash !== rec.fingerprint.hash) {
    const next = Math.max(...versionsOf(await readVersions(log), t.name).map((v) => v.version)) + 1;
    throw new FingerprintMismatchError(t.name, t.version, fingerprintChanges(rec.fingerprint, fp), next);
  }
  const lag = await inputLag(log, t);
  const lagging = lag
    .filter((l) => l.lagRecords > maxLagRecords)
    .map((l) => ({ tp: `${l.topic}:${l.partition}`, lag: l.lagRecords }));
  if (lagging.length > 0) throw new NotCaughtUpError(t.name, t.version, lagging, maxLagRecords);
  const warnings: string[] = [];
  try {
    await recordPositions(
      log,
      t.name,
      t.version,
      Object.fromEntries(lag.map((l) => [`${l.topic}:${l.partition}`, l.position])),
      opts.nowMs,
    );
  } catch (err) {
    if (!(err instanceof PositionsBackwardError)) throw err;
    warnings.push(`positions not recorded: ${err.message}`);
  }
  const previousLive = liveVersionOf(await readVersions(log), t.name);
  if (rec.state === 'replaying') await setVersionState(log, t.name, t.version, 'caught-up', opts.nowMs);
  await setVersionState(log, t.name, t.version, 'live', opts.nowMs);
  // A registry written before `superseded` existed: a version live before and superseded since kept state `live`.
  if (rec.state === 'live' && previousLive !== t.version) await setLiveVersion(log, t.name, t.version, opts.nowMs);
  const followers: Follower[] = [];
  if (previousLive !== undefined && previousLive !== t.version) {
    const old = new Set(
      Object.entries((await getVersion(log, t.name, previousLive)).fingerprint.components)
        .filter(([k, v]) => k.startsWith('topic:') && (JSON.parse(v) as { role: string }).role === 'output')
        .map(([k]) => k.slice('topic:'.length)),
    );
    for (const o of opts.others ?? [])
      for (const info of o.topics.values())
        if ((info.role === 'source' || info.role === 'global') && old.has(info.name))
          followers.push({ topology: o.name, version: o.version, topic: info.name });
  }
  const unserved = await unservedWarning(log, t.name, t.version);
  if (unserved !== undefined) warnings.push(unserved);
  return {
    topology: t.name,
    version: t.version,
    previousLive: previousLive !== t.version ? previousLive : undefined,
    lag,
    followers,
    warnings,
  };
}
