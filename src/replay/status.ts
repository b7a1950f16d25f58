/**
 * Where each version of a topology is: its committed input positions against the inputs' high watermarks (lag per
 * input partition), records in and out, and its registry state. Read from the log (committed offsets of the
 * version's consumer group `<topology>.v<N>`) and the versions registry; used by `eddy versions` and `promote`.
 */
import type { Log } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';
import { groupId, versionId } from '../topology/names.js';
import type { Fingerprint, FingerprintGuarantee } from './fingerprint.js';
import { fingerprintOf } from './fingerprint.js';
import { readRunHistory, replayRate } from './progress.js';
import { liveVersionOf, type VersionState, type VersionsSnapshot, versionsOf } from './registry.js';

/** One input partition of a version: its committed position (next offset to read) and the lag behind the head. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Committed position; the partition's log start when the version committed nothing yet. */
  readonly position: number;
  /** The high watermark (end offset). */
  readonly high: number;
  /** `high - position`, records. */
  readonly lagRecords: number;
}

/** Lag per input partition of topology version `t` (its source topics, group `<topology>.v<N>`). */
export async function inputLag(log: Log, t: Topology): Promise<PartitionLag[]> {
  const out: PartitionLag[] = [];
  for (const info of t.topics.values()) {
    if (info.role !== 'source') continue;
    if ((await log.describeTopic(info.name)) === undefined) continue;
    const committed = await log.committedOffsets(t.groupId, info.name);
    for (const o of await log.offsets(info.name)) {
      const position = Math.max(o.low, committed.get(o.partition)?.offset ?? o.low);
      out.push({
        topic: info.name,
        partition: o.partition,
        position,
        high: o.high,
        lagRecords: Math.max(0, o.high - position),
      });
    }
  }
  return out;
}

/** Records in a topic (sum over partitions of high - low); 0 when it does not exist. */
export async function topicRecords(log: Log, topic: string): Promise<number> {
  if ((await log.describeTopic(topic)) === undefined) return 0;
  return (await log.offsets(topic)).reduce((n, o) => n + (o.high - o.low), 0);
}

/** A row of `eddy versions`. */
export interface VersionStatus {
  readonly topology: string;
  readonly version: number;
  /**
   * Registry state (`VERSION_STATES`); undefined when the version is in the code but never ran. At most one version
   * is `live`: one recorded `live` by an eddy that predates `superseded`, but no longer named live, shows `superseded`.
   */
  readonly state?: VersionState;
  readonly live: boolean;
  /** The first 12 hex digits of the recorded fingerprint (else of the code's). */
  readonly fingerprint: string;
  /** Whether the code has this version, and whether its fingerprint equals the recorded one. */
  readonly inCode: boolean;
  readonly matchesCode?: boolean;
  /** Input records consumed: the sum of committed positions. */
  readonly recordsIn: number;
  /** Records in the version's output topics. */
  readonly recordsOut: number;
  readonly lag: readonly PartitionLag[];
  /**
   * While `replaying`: input records processed per second by the processes running the version (from their run
   * records, between their last two heartbeats; see `./progress.ts`); null when unknown or not replaying.
   */
  readonly recordsPerSecond: number | null;
  /** While `replaying`: the lag over every input partition / `recordsPerSecond`, ms; null when unknown. */
  readonly etaMs: number | null;
  readonly consumerGroup: string;
}

/**
 * The status of every version of a topology: those in the code (`versions`) and those only in the registry
 * (e.g. retired and removed from the code). Sorted by version.
 */
export async function versionStatuses(
  log: Log,
  snap: VersionsSnapshot,
  name: string,
  versions: readonly Topology[],
  opts: { processingGuarantee?: FingerprintGuarantee; nowMs?: number } = {},
): Promise<VersionStatus[]> {
  const recorded = new Map(versionsOf(snap, name).map((r) => [r.version, r]));
  const inCode = new Map(versions.map((t) => [t.version, t]));
  const live = liveVersionOf(snap, name);
  const numbers = [...new Set([...recorded.keys(), ...inCode.keys()])].sort((a, b) => a - b);
  const replaying = [...recorded.values()].some((r) => r.state === 'replaying');
  const history = replaying ? await readRunHistory(log, name) : new Map();
  const out: VersionStatus[] = [];
  for (const v of numbers) {
    const rec = recorded.get(v);
    const t = inCode.get(v);
    const codeFp: Fingerprint | undefined = t === undefined ? undefined : fingerprintOf(t, opts);
    const lag = t !== undefined && rec?.state !== 'retired' ? await inputLag(log, t) : [];
    let recordsOut = 0;
    for (const topic of outputTopicsOf(rec?.fingerprint, t)) recordsOut += await topicRecords(log, topic);
    const sources = t === undefined ? [] : [...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
    const rate =
      rec?.state === 'replaying' && t !== undefined
        ? replayRate(
            history,
            v,
            sources,
            lag.reduce((n, l) => n + l.lagRecords, 0),
            opts.nowMs,
          )
        : { recordsPerSecond: null, etaMs: null };
    out.push({
      topology: name,
      version: v,
      state: rec?.state === 'live' && live !== v ? 'superseded' : rec?.state,
      live: live === v,
      fingerprint: (rec?.fingerprint.hash ?? codeFp?.hash ?? '').slice(0, 12),
      inCode: t !== undefined,
      matchesCode: rec !== undefined && codeFp !== undefined ? rec.fingerprint.hash === codeFp.hash : undefined,
      recordsIn: lag.reduce((n, l) => n + l.position, 0),
      recordsOut,
      lag,
      recordsPerSecond: rate.recordsPerSecond,
      etaMs: rate.etaMs,
      consumerGroup: groupId(name, v),
    });
  }
  return out;
}

/**
 * The topics a version owns (everything but its sources and global tables), from the code when it has the version,
 * else from the recorded fingerprint's `topic:` components; plus, on the log, any topic named `<topology>.v<N>.*`.
 */
export function ownedTopicsOf(
  fp: Fingerprint | undefined,
  t: Topology | undefined,
  roles?: readonly string[],
): string[] {
  const out = new Set<string>();
  if (t !== undefined) {
    for (const info of t.topics.values())
      if (info.role !== 'source' && info.role !== 'global' && (roles === undefined || roles.includes(info.role)))
        out.add(info.name);
  }
  if (fp !== undefined) {
    for (const [k, v] of Object.entries(fp.components)) {
      if (!k.startsWith('topic:')) continue;
      const role = (JSON.parse(v) as { role: string }).role;
      if (role !== 'source' && role !== 'global' && (roles === undefined || roles.includes(role)))
        out.add(k.slice('topic:'.length));
    }
  }
  return [...out].sort();
}

function outputTopicsOf(fp: Fingerprint | undefined, t: Topology | undefined): string[] {
  return ownedTopicsOf(fp, t, ['output']);
}

/** Topics on the log named `<topology>.v<N>.` (internal topics of a version that the code may no longer declare). */
export async function prefixedTopics(log: Log, topology: string, version: number): Promise<string[]> {
  const prefix = `${versionId(topology, version)}.`;
  return (await log.listTopics()).map((d) => d.name).filter((n) => n.startsWith(prefix));
}
