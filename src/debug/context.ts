/**
 * What a dry run and a trace read before processing anything, all read-only: the version's record in the versions
 * registry (a version whose code no longer matches its recorded fingerprint is refused), the partition counts of its
 * topics, its serdes over a scratch registry (nothing registered), its global tables read from their topics, and its
 * committed positions.
 */
import { EddyError, UnknownTopicError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { FingerprintMismatchError } from '../replay/errors.js';
import { type FingerprintGuarantee, fingerprintChanges, fingerprintOf } from '../replay/fingerprint.js';
import { readVersions, type VersionRecord, versionsOf } from '../replay/registry.js';
import { bootstrapGlobalTables, type GlobalTableView } from '../runtime/global-tables.js';
import { TopologySerdes } from '../runtime/serdes.js';
import type { SchemaRegistry } from '../schema/types.js';
import { partitionCounts } from '../testing/partitions.js';
import type { Topology } from '../topology/graph.js';
import { versionId } from '../topology/names.js';
import { ScratchRegistry } from './scratch-registry.js';

/** The read-only view of one topology version a dry run or a trace works from. */
export interface DebugContext {
  readonly log: Log;
  readonly topology: Topology;
  readonly registry: ScratchRegistry;
  readonly serdes: TopologySerdes;
  readonly globalTables: Map<string, GlobalTableView<unknown, unknown>>;
  /** Partition count of every topic of the topology (from the log where the topic exists). */
  readonly partitions: Map<string, number>;
  /** The version's record in the versions registry; undefined when it never ran. */
  readonly record?: VersionRecord;
}

/**
 * Opens the read-only view of version `topology`. Writes nothing to the log, the registry or the stores.
 * @throws FingerprintMismatchError when the version was recorded with other code; VersionStateError for a retired
 *   version; UnknownTopicError for a missing input topic; IncompatibleSchemaError when a written subject would refuse
 *   the topology's schema (a real run would stop there too).
 */
export async function openDebugContext(o: {
  log: Log;
  registry: SchemaRegistry;
  topology: Topology;
  processingGuarantee?: FingerprintGuarantee;
}): Promise<DebugContext> {
  const { log, topology: t } = o;
  const snap = await readVersions(log);
  const record = snap.versions.get(versionId(t.name, t.version));
  if (record !== undefined) {
    const fp = fingerprintOf(t, { processingGuarantee: o.processingGuarantee });
    if (record.fingerprint.hash !== fp.hash) {
      const changes = fingerprintChanges(record.fingerprint, fp);
      const next = Math.max(t.version, ...versionsOf(snap, t.name).map((v) => v.version)) + 1;
      throw new FingerprintMismatchError(
        t.name,
        t.version,
        changes.length > 0 ? changes : ['fingerprint hash differs'],
        next,
      );
    }
    if (record.state === 'retired')
      throw new EddyError(
        'VERSION_RETIRED',
        `${t.name} version ${t.version} is retired: its topics and state were deleted, so there is nothing to run or trace. Use the live version (eddy versions ${t.name}).`,
        { details: { topology: t.name, version: t.version } },
      );
  }
  const known = (await log.listTopics()).map((d) => d.name);
  const inputs: Record<string, number> = {};
  for (const info of t.topics.values()) {
    if (info.role !== 'source' && info.role !== 'global') continue;
    const d = await log.describeTopic(info.name);
    if (d === undefined) throw new UnknownTopicError(info.name, known);
    inputs[info.name] = d.partitions;
  }
  const partitions = partitionCounts(t, inputs);
  for (const name of partitions.keys()) {
    const d = await log.describeTopic(name);
    if (d !== undefined) partitions.set(name, d.partitions);
  }
  const registry = new ScratchRegistry(o.registry);
  const serdes = await TopologySerdes.create(t, registry);
  const globalTables = await bootstrapGlobalTables(log, t, serdes);
  return { log, topology: t, registry, serdes, globalTables, partitions, record };
}

/** The version's committed position per partition of `topic` (next offset to read, and its stream-time metadata). */
export async function committedPositions(
  ctx: DebugContext,
  topic: string,
): Promise<Map<number, { offset: number; streamTimes: Record<string, number> }>> {
  const out = new Map<number, { offset: number; streamTimes: Record<string, number> }>();
  if ((await ctx.log.describeTopic(topic)) === undefined) return out;
  for (const [p, c] of await ctx.log.committedOffsets(ctx.topology.groupId, topic)) {
    let streamTimes: Record<string, number> = {};
    try {
      if (c.metadata) streamTimes = JSON.parse(c.metadata) as Record<string, number>;
    } catch {
      // metadata not written by eddy: no stream times
    }
    out.set(p, { offset: c.offset, streamTimes });
  }
  return out;
}
