/**
 * The versions registry: what ran, as which version, with which fingerprint, and where it is. It lives on the log
 * itself, in the compacted topic `eddy.meta.versions` (1 partition), so it works the same on the embedded log and on
 * Kafka. One record per topology version (key `<topology>.v<N>`, value a `VersionRecord` as JSON) and one per
 * topology (key `<topology>`, value a `TopologyRecord` naming the live version). Compaction keeps the latest record
 * per key; readers read the whole topic (it is small) and keep the last record of each key.
 *
 * Writes are read-modify-write from the caller's process: two CLI commands racing on one version may overwrite each
 * other's record (the last append wins); the runtime and the CLI change disjoint fields in practice.
 */
import type { Log } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';
import { versionId } from '../topology/names.js';
import { META_TOPIC_CONFIG } from '../topology/topic-config.js';
import { FingerprintMismatchError, PositionsBackwardError, UnknownVersionError, VersionStateError } from './errors.js';
import { type Fingerprint, type FingerprintGuarantee, fingerprintChanges, fingerprintOf } from './fingerprint.js';

/** The compacted topic of the versions registry. */
export const VERSIONS_TOPIC = 'eddy.meta.versions';
/** Format of the records' JSON; readers refuse a newer format than they know. */
export const VERSIONS_FORMAT = 1;

/**
 * A version's life, forward only: `replaying` (consuming its inputs from the start, not yet near the head) →
 * `caught-up` (within `DEFAULT_MAX_LAG_RECORDS` of the head on every input partition) → `live` (the version readers
 * follow; exactly one per topology) → `superseded` (was live until another version was promoted; still served by the
 * workers running it, until retired) → `retired` (stopped; its topics and state deleted). One move goes back, on
 * purpose: promoting a superseded version again (`superseded` → `live`, a roll-back), which supersedes the live one.
 */
export const VERSION_STATES = ['replaying', 'caught-up', 'live', 'superseded', 'retired'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

/** A registry subject of a version (Confluent's TopicNameStrategy: `<topic>-key`/`-value`) and its id, where known. */
export interface SubjectRef {
  readonly subject: string;
  readonly id?: number;
}

/** The record of one topology version (value of key `<topology>.v<N>`). */
export interface VersionRecord {
  readonly format: number;
  readonly topology: string;
  readonly version: number;
  readonly fingerprint: Fingerprint;
  readonly schemas: readonly SubjectRef[];
  readonly state: VersionState;
  /** When each state reached so far began, ms since epoch. */
  readonly stateSinceMs: Readonly<Partial<Record<VersionState, number>>>;
  /** Committed input positions (next offset to read), `<topic>:<partition>` → offset; never move backwards. */
  readonly positions: Readonly<Record<string, number>>;
  /** When this record was written, ms since epoch. */
  readonly updatedMs: number;
}

/** The record of one topology (value of key `<topology>`): which version is live. */
export interface TopologyRecord {
  readonly format: number;
  readonly topology: string;
  readonly liveVersion?: number;
  readonly updatedMs: number;
}

/** Everything in the registry, read at one moment. */
export interface VersionsSnapshot {
  /** Key `<topology>.v<N>` → record. */
  readonly versions: ReadonlyMap<string, VersionRecord>;
  /** Topology name → record. */
  readonly topologies: ReadonlyMap<string, TopologyRecord>;
}

/** Creates the registry topic if missing (1 partition, compacted). */
export async function ensureVersionsTopic(log: Log): Promise<void> {
  // compacted, and no time retention: the registry's records keep their write times, but a version outlives any limit
  await log.createTopics([{ name: VERSIONS_TOPIC, partitions: 1, compacted: true, config: META_TOPIC_CONFIG }]);
}

/** Reads the whole registry (the last record per key). An absent topic is an empty registry. */
export async function readVersions(log: Log): Promise<VersionsSnapshot> {
  return new VersionsTail(log).refresh();
}

/**
 * The registry kept up to date by reading only what was appended since the last `refresh()` (a process that checks
 * it every few seconds reads each record once, however long the topic grows before compaction).
 */
export class VersionsTail {
  private readonly versions = new Map<string, VersionRecord>();
  private readonly topologies = new Map<string, TopologyRecord>();
  private next = 0;
  private reading: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: Log) {}

  /**
   * Applies the records appended since the last call and returns the registry (live maps: read them before the next
   * `refresh()`). An absent topic is an empty registry. Throws `VersionStateError` for a record of a newer format.
   * Calls made while one runs wait for it (two overlapping reads would apply the same records twice, the slower one
   * last, putting an older record of a key back).
   */
  refresh(): Promise<VersionsSnapshot> {
    const read = () => this.readAppended();
    const next = this.reading.then(read, read);
    this.reading = next;
    return next;
  }

  private async readAppended(): Promise<VersionsSnapshot> {
    const { versions, topologies } = this;
    if (this.next === 0 && (await this.log.describeTopic(VERSIONS_TOPIC)) === undefined)
      return { versions, topologies };
    for await (const batch of this.log.read({ topic: VERSIONS_TOPIC, partition: 0 }, { fromOffset: this.next })) {
      for (const r of batch) {
        this.next = Math.max(this.next, r.offset + 1);
        if (r.key === null) continue;
        const key = r.key.toString('utf8');
        if (r.value === null) {
          versions.delete(key);
          topologies.delete(key);
          continue;
        }
        const v = JSON.parse(r.value.toString('utf8')) as { format?: number; version?: number };
        if ((v.format ?? 0) > VERSIONS_FORMAT)
          throw new VersionStateError(
            key,
            0,
            `recorded in format ${v.format}`,
            'read',
            `This eddy reads format ${VERSIONS_FORMAT}: upgrade eddy.`,
          );
        if (typeof v.version === 'number') versions.set(key, v as VersionRecord);
        else topologies.set(key, v as TopologyRecord);
      }
    }
    return { versions, topologies };
  }
}

/** The recorded versions of one topology, by version number. */
export function versionsOf(snap: VersionsSnapshot, topology: string): VersionRecord[] {
  return [...snap.versions.values()].filter((v) => v.topology === topology).sort((a, b) => a.version - b.version);
}

/** The live version of a topology, or undefined when none was promoted. */
export function liveVersionOf(snap: VersionsSnapshot, topology: string): number | undefined {
  return snap.topologies.get(topology)?.liveVersion;
}

/** One version's record; throws `UnknownVersionError` listing the known versions. */
export async function getVersion(log: Log, topology: string, version: number): Promise<VersionRecord> {
  return versionIn(await readVersions(log), topology, version);
}

/** One version's record in `snap`; throws `UnknownVersionError` listing the known versions. */
export function versionIn(snap: VersionsSnapshot, topology: string, version: number): VersionRecord {
  const rec = snap.versions.get(versionId(topology, version));
  if (rec === undefined)
    throw new UnknownVersionError(
      topology,
      version,
      versionsOf(snap, topology).map((v) => v.version),
    );
  return rec;
}

async function append(log: Log, key: string, value: VersionRecord | TopologyRecord): Promise<void> {
  await ensureVersionsTopic(log);
  const producer = log.producer();
  try {
    await producer.send([
      {
        topic: VERSIONS_TOPIC,
        partition: 0,
        key: Buffer.from(key),
        value: Buffer.from(JSON.stringify(value)),
        timestamp: value.updatedMs,
      },
    ]);
  } finally {
    await producer.close();
  }
}

/** The registry subjects of a topology version's typed topics and stores (TopicNameStrategy). */
export function subjectsOf(t: Topology): SubjectRef[] {
  const out: SubjectRef[] = [];
  for (const info of t.topics.values())
    if (info.keySchema !== undefined && info.valueSchema !== undefined)
      out.push({ subject: `${info.name}-key` }, { subject: `${info.name}-value` });
  return out.sort((a, b) => a.subject.localeCompare(b.subject));
}

/**
 * Checks a topology version against the registry before anything is written for it (the runner's setup calls this
 * first). A version seen for the first time is recorded as `replaying` with its fingerprint. A recorded version whose
 * fingerprint differs throws `FingerprintMismatchError` naming every change and the next free version number; a
 * retired version throws `VersionStateError`. Returns the version's record. `knownVersions`: the version numbers the
 * code defines (so the suggested next version is free in the code too).
 */
export async function checkVersion(
  log: Log,
  t: Topology,
  opts: { processingGuarantee?: FingerprintGuarantee; knownVersions?: readonly number[]; nowMs?: number } = {},
): Promise<VersionRecord> {
  const fp = fingerprintOf(t, opts);
  const snap = await readVersions(log);
  const rec = snap.versions.get(versionId(t.name, t.version));
  const nextVersion =
    Math.max(t.version, ...(opts.knownVersions ?? []), ...versionsOf(snap, t.name).map((v) => v.version)) + 1;
  if (rec === undefined) {
    const now = opts.nowMs ?? Date.now();
    const created: VersionRecord = {
      format: VERSIONS_FORMAT,
      topology: t.name,
      version: t.version,
      fingerprint: fp,
      schemas: subjectsOf(t),
      state: 'replaying',
      stateSinceMs: { replaying: now },
      positions: {},
      updatedMs: now,
    };
    await append(log, versionId(t.name, t.version), created);
    return created;
  }
  if (rec.fingerprint.hash !== fp.hash) {
    const changes = fingerprintChanges(rec.fingerprint, fp);
    throw new FingerprintMismatchError(
      t.name,
      t.version,
      changes.length > 0 ? changes : ['fingerprint hash differs'],
      nextVersion,
    );
  }
  if (rec.state === 'retired')
    throw new VersionStateError(
      t.name,
      t.version,
      'retired',
      'run',
      `Its topics and state were deleted: bump the version to ${nextVersion} and replay it.`,
    );
  return rec;
}

/**
 * Moves a version to `state` (forward only, but `superseded` → `live`: a roll-back; the same state is a no-op) and
 * records when it began. `live` also names the version in the topology's record and moves the version live before it
 * (if another, and still `live`) to `superseded`, so that a topology has one live version. Throws
 * `UnknownVersionError`, or `VersionStateError` for a move back.
 */
export async function setVersionState(
  log: Log,
  topology: string,
  version: number,
  state: VersionState,
  nowMs = Date.now(),
): Promise<VersionRecord> {
  const rec = await getVersion(log, topology, version);
  const from = VERSION_STATES.indexOf(rec.state);
  const to = VERSION_STATES.indexOf(state);
  if (to < from && !(rec.state === 'superseded' && state === 'live'))
    throw new VersionStateError(
      topology,
      version,
      rec.state,
      state,
      `States move forward only (${VERSION_STATES.join(' → ')}).`,
    );
  if (to === from) return rec;
  const next: VersionRecord = {
    ...rec,
    state,
    stateSinceMs: { ...rec.stateSinceMs, [state]: nowMs },
    updatedMs: nowMs,
  };
  await append(log, versionId(topology, version), next);
  if (state === 'live') await setLiveVersion(log, topology, version, nowMs);
  return next;
}

/** Versions other than `version` still recorded `live` move to `superseded` (`version` is being named live). */
async function supersedePrevious(log: Log, topology: string, version: number, nowMs: number): Promise<void> {
  // The one named live, and any other still recorded `live` (a registry written before `superseded` existed).
  for (const rec of versionsOf(await readVersions(log), topology)) {
    if (rec.version === version || rec.state !== 'live') continue;
    await append(log, versionId(topology, rec.version), {
      ...rec,
      state: 'superseded',
      stateSinceMs: { ...rec.stateSinceMs, superseded: nowMs },
      updatedMs: nowMs,
    });
  }
}

/**
 * Names `version` the live version of `topology` in the topology's record (`promote`; the version must be live), after
 * moving the version live before it to `superseded`.
 */
export async function setLiveVersion(log: Log, topology: string, version: number, nowMs = Date.now()): Promise<void> {
  await supersedePrevious(log, topology, version, nowMs);
  await append(log, topology, { format: VERSIONS_FORMAT, topology, liveVersion: version, updatedMs: nowMs });
}

/**
 * Records a version's committed input positions (`<topic>:<partition>` → next offset to read), merged into the
 * recorded ones. Refuses (throws `PositionsBackwardError`, writing nothing) if any would move backwards.
 */
export async function recordPositions(
  log: Log,
  topology: string,
  version: number,
  positions: Readonly<Record<string, number>>,
  nowMs = Date.now(),
): Promise<VersionRecord> {
  const rec = await getVersion(log, topology, version);
  const moves = Object.entries(positions)
    .filter(([tp, o]) => rec.positions[tp] !== undefined && o < rec.positions[tp])
    .map(([tp, to]) => ({ tp, from: rec.positions[tp], to }));
  if (moves.length > 0) throw new PositionsBackwardError(topology, version, moves);
  // Nothing moved (an idle version): no record, so that an idle worker does not grow the registry every sync.
  if (Object.entries(positions).every(([tp, o]) => rec.positions[tp] === o)) return rec;
  const next: VersionRecord = { ...rec, positions: { ...rec.positions, ...positions }, updatedMs: nowMs };
  await append(log, versionId(topology, version), next);
  return next;
}

/** Throws `VersionStateError` for a live, superseded or retired version: never started over (`resetVersion`). */
export function checkResettable(rec: VersionRecord): void {
  if (rec.state === 'live' || rec.state === 'superseded' || rec.state === 'retired')
    throw new VersionStateError(
      rec.topology,
      rec.version,
      rec.state,
      'reset',
      'A version that was live (live, superseded) or is retired is never replayed over: bump the version.',
    );
}

/**
 * Starts a version's positions over (`eddy replay --reset`): positions emptied and state back to `replaying`. The
 * only way positions move back, on purpose, after the version's outputs and state were deleted. Refuses a live or
 * retired version (`VersionStateError`).
 */
export async function resetVersion(
  log: Log,
  topology: string,
  version: number,
  nowMs = Date.now(),
): Promise<VersionRecord> {
  const rec = await getVersion(log, topology, version);
  checkResettable(rec);
  const next: VersionRecord = {
    ...rec,
    state: 'replaying',
    stateSinceMs: { replaying: nowMs },
    positions: {},
    updatedMs: nowMs,
  };
  await append(log, versionId(topology, version), next);
  return next;
}
