import { ConfigError, EddyError, UnknownTopicError } from '../errors.js';
import type { Log, LogRecord, TopicSpec } from '../log/contract.js';
import type { Flowing } from '../processors/context.js';
import { fingerprintOf } from '../replay/fingerprint.js';
import { checkVersion, readVersions } from '../replay/registry.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { QuarantinedStore } from '../state/task-stores.js';
import { coPartitionedCounts } from '../topology/copartition.js';
import type { Topology } from '../topology/graph.js';
import { taskId } from '../topology/names.js';
import { topicConfigFor } from '../topology/topic-config.js';
import { PROCESSING_GUARANTEES, type ProcessingGuarantee } from './commit.js';
import { withEventTime } from './event-time.js';
import { bootstrapGlobalTables, type GlobalTableView } from './global-tables.js';
import { checkRetention } from './retention.js';
import { TopologySerdes } from './serdes.js';
import { RunStats } from './stats.js';
import { Task } from './task.js';

/** What a version needs from the runner that hosts it. */
export interface VersionOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly stateDir: string;
  readonly maxCacheEntries: number;
  readonly processingGuarantee: ProcessingGuarantee;
  /** Counters to count into (default new ones). */
  readonly stats?: RunStats;
  /** A store file was quarantined and is being rebuilt. */
  readonly onQuarantine?: (q: QuarantinedStore) => void;
  /** The version's fingerprint, recorded in every store file (a file with another one is quarantined). */
  readonly fingerprint?: string;
  /** Something went wrong that does not stop processing (a failed purge). */
  readonly onWarning?: (event: string, message: string) => void;
  /** Progress of store restoration of one of this version's tasks, in changelog records. */
  readonly onRestore?: (task: string, store: string, done: number, total: number) => void;
  /** Before each task commit; a throw aborts the batch (`TaskDeps.beforeCommit`). */
  readonly beforeCommit?: () => Promise<void>;
}

/**
 * Checks the versions one runner is given (`runner` names it in the message): at least one, all of one topology, no
 * version number twice. Throws `ConfigError`.
 */
export function checkHostedVersions(runner: string, list: readonly Topology[]): void {
  if (list.length === 0) throw new ConfigError(`${runner} needs at least one topology version`);
  const names = new Set(list.map((t) => t.name));
  if (names.size > 1) throw new ConfigError(`one runner runs versions of one topology, got ${[...names].join(', ')}`);
  const numbers = list.map((t) => t.version);
  if (new Set(numbers).size !== numbers.length) throw new ConfigError(`version given twice: ${numbers.join(', ')}`);
}

/** How often a repartition topic partition is purged of records committed downstream, ms. */
export const REPARTITION_PURGE_INTERVAL_MS = 10_000;

/** A decoded batch: records that decoded, and those that did not with the reason. */
export interface Decoded {
  readonly ok: Flowing[];
  readonly bad: { raw: LogRecord; reason: string }[];
}

/** The topics a version's tasks read: its external inputs and its own repartition topics, in sub-topology order. */
export function sourceTopicsOf(topology: Topology): string[] {
  return [...new Set(topology.subtopologies.flatMap((s) => s.sourceTopics))];
}

/** The topics only this version reads (its repartition topics), of `sourceTopicsOf`. */
export function internalSourceTopicsOf(topology: Topology): Set<string> {
  return new Set(sourceTopicsOf(topology).filter((t) => topology.topics.get(t)?.role === 'repartition'));
}

/** What `checkVersion` compares and suggests with: the guarantee, and the version numbers the code defines. */
export interface VersionCheckOptions {
  readonly processingGuarantee: ProcessingGuarantee;
  readonly knownVersions: readonly number[];
}

/**
 * The first half of a runner's setup, which writes nothing to the log. A recorded version whose code no longer
 * matches what it recorded (graph, windows, schemas, guarantee) is refused, naming the change (`checkVersion`); then
 * every version's inputs, co-partitioning and retention are checked and its schemas registered (`prepare`).
 */
export async function checkVersions(
  log: Log,
  versions: readonly VersionRuntime[],
  o: VersionCheckOptions,
): Promise<void> {
  const recorded = await readVersions(log);
  for (const v of versions) if (recorded.versions.has(v.topology.groupId)) await checkVersion(log, v.topology, o);
  for (const v of versions) await v.prepare();
}

/**
 * The second half, after every version's `checkVersions`: records a new version as `replaying` in the versions
 * registry, creates the versions' missing topics and bootstraps their global tables.
 */
export async function createVersions(
  log: Log,
  versions: readonly VersionRuntime[],
  o: VersionCheckOptions,
): Promise<void> {
  for (const v of versions) {
    await checkVersion(log, v.topology, o);
    v.fingerprint = fingerprintOf(v.topology, o).hash;
  }
  for (const v of versions) await v.create();
}

/**
 * One version of a topology inside a runner: its serdes, global tables, partition counts, counters and tasks
 * (keyed `<subtopology>_<partition>`). Versions share nothing but the runner's consumer: stopping or failing one
 * task of a version never touches another version's tasks, stores, producers or committed positions.
 */
export class VersionRuntime {
  readonly stats: RunStats;
  /** The version's fingerprint hash (set by the runner after the registry check), recorded in every store file. */
  fingerprint?: string;
  readonly tasks = new Map<string, Task>();
  private serdesNow?: TopologySerdes;
  private globals = new Map<string, GlobalTableView<unknown, unknown>>();
  private readonly partitions = new Map<string, number>();
  private readonly maxBytes = new Map<string, number>();
  private readonly subOfTopic = new Map<string, number>();
  /** Per source topic: a string naming the key and value reader schemas (versions with equal ones share decoding). */
  private readonly readerSchemas = new Map<string, string>();

  constructor(
    readonly topology: Topology,
    private readonly o: VersionOptions,
  ) {
    this.stats = o.stats ?? new RunStats();
    for (const s of topology.subtopologies) for (const t of s.sourceTopics) this.subOfTopic.set(t, s.id);
    const t = topology;
    for (const info of topology.topics.values())
      this.readerSchemas.set(
        info.name,
        JSON.stringify([info.keySchema ?? null, info.valueSchema ?? null, info.eventTime?.description ?? null]) +
          (info.eventTime?.description === 'function' ? `#${t.version}` : ''),
      );
  }

  get serdes(): TopologySerdes {
    if (this.serdesNow === undefined)
      throw new EddyError('NOT_SET_UP', `version ${this.topology.groupId} was not set up`);
    return this.serdesNow;
  }

  /** Topics this version's tasks read: external inputs and its own repartition topics. */
  get sourceTopics(): string[] {
    return [...this.subOfTopic.keys()];
  }

  /** True for a topic only this version reads (its repartition topics); false for an external input. */
  isInternal(topic: string): boolean {
    return this.topology.topics.get(topic)?.role === 'repartition';
  }

  /** The reader schemas of a source topic, as a string: equal strings decode identically. */
  readerSchemaOf(topic: string): string {
    return this.readerSchemas.get(topic) ?? '';
  }

  /** The sub-topology that reads `topic`, if any. */
  subtopologyOf(topic: string): number | undefined {
    return this.subOfTopic.get(topic);
  }

  /**
   * Checks the inputs (they exist; co-partitioned inputs of a sub-topology have equal partition counts), creates the
   * version's missing internal and output topics with eddy's topic configs (`topicConfigFor`: no time retention,
   * changelogs compacted), registers its schemas and bootstraps its global tables. Throws `UnknownTopicError` or
   * `ConfigError` (also for time retention on one of its own topics, see `checkRetention`) before any write.
   */
  async setup(): Promise<void> {
    await this.prepare();
    await this.create();
  }

  private specs: TopicSpec[] = [];

  /**
   * The checks of `setup`, and the schema registration of the subjects the version writes; nothing on the log.
   * Throws as `setup` does.
   */
  async prepare(): Promise<void> {
    const { log } = this.o;
    const t = this.topology;
    if (!PROCESSING_GUARANTEES.includes(this.o.processingGuarantee))
      throw new ConfigError(
        `processingGuarantee: expected one of ${PROCESSING_GUARANTEES.join(', ')}, got ${JSON.stringify(this.o.processingGuarantee)}`,
      );
    const existing = new Map((await log.listTopics()).map((d) => [d.name, d]));
    let inputPartitions = 0;
    for (const info of t.topics.values()) {
      if (info.role !== 'source' && info.role !== 'global') continue;
      const d = existing.get(info.name);
      if (d === undefined) throw new UnknownTopicError(info.name, [...existing.keys()]);
      this.partitions.set(info.name, d.partitions);
      if (info.role === 'source') inputPartitions = Math.max(inputPartitions, d.partitions);
    }
    // Inputs read together (a stream and its table) must be co-partitioned; repartition topics read beside them
    // get their count.
    const coPartitioned = coPartitionedCounts(t, (x) => this.partitions.get(x)!);
    // Time retention would delete records by their (old) event times: refused on eddy's own topics, warned on inputs.
    for (const w of await checkRetention(
      log,
      [...t.topics.values()].map((i) => ({ name: i.name, role: i.role })),
    ))
      this.o.onWarning?.('retention', w);
    const specs: TopicSpec[] = [];
    for (const info of t.topics.values()) {
      if (info.role === 'source' || info.role === 'global') continue;
      const partitions = coPartitioned.get(info.name) ?? info.partitions ?? inputPartitions;
      this.partitions.set(info.name, partitions);
      specs.push({ name: info.name, partitions, compacted: info.compacted, config: topicConfigFor(info.role) });
    }
    this.serdesNow = await TopologySerdes.create(t, this.o.registry);
    this.specs = specs;
  }

  /** The writes of `setup`, after `prepare`: creates the version's topics and bootstraps its global tables. */
  async create(): Promise<void> {
    const { log } = this.o;
    const t = this.topology;
    const { specs } = this;
    await log.createTopics(specs);
    for (const spec of specs) {
      const d = await log.describeTopic(spec.name);
      if (d !== undefined && d.partitions !== spec.partitions) this.partitions.set(spec.name, d.partitions);
      if (d?.maxMessageBytes !== undefined) this.maxBytes.set(spec.name, d.maxMessageBytes);
    }
    this.globals = await bootstrapGlobalTables(log, t, this.serdes);
  }

  /** The task of `topic`'s sub-topology for `partition`, created (not opened) if new; undefined if not a source. */
  taskFor(topic: string, partition: number): { task: Task; created: boolean } | undefined {
    const sub = this.subOfTopic.get(topic);
    if (sub === undefined) return undefined;
    const id = taskId(sub, partition);
    const had = this.tasks.get(id);
    if (had !== undefined) return { task: had, created: false };
    const task = new Task({
      topology: this.topology,
      subtopology: this.topology.subtopologies[sub],
      partition,
      log: this.o.log,
      serdes: this.serdes,
      stateDir: this.o.stateDir,
      globalTables: this.globals,
      stats: this.stats,
      partitionsOf: (x) => this.partitionsOf(x),
      maxRecordBytes: (x) => this.maxBytes.get(x),
      maxCacheEntries: this.o.maxCacheEntries,
      processingGuarantee: this.o.processingGuarantee,
      onQuarantine: this.o.onQuarantine,
      beforeCommit: this.o.beforeCommit,
      fingerprint: this.fingerprint ?? this.o.fingerprint,
      onRestore: (store, done, total) => {
        this.stats.restored(store, done - (this.restoredSoFar.get(`${id}/${store}`) ?? 0));
        this.restoredSoFar.set(`${id}/${store}`, done);
        this.o.onRestore?.(task.taskId, store, done, total);
      },
    });
    this.tasks.set(id, task);
    return { task, created: true };
  }

  private readonly restoredSoFar = new Map<string, number>();

  /** The existing task reading `topic` at `partition`. */
  existingTask(topic: string, partition: number): Task | undefined {
    const sub = this.subOfTopic.get(topic);
    return sub === undefined ? undefined : this.tasks.get(taskId(sub, partition));
  }

  /** Forgets a task (the caller closes it). */
  removeTask(task: Task): void {
    if (this.tasks.get(task.localId) === task) this.tasks.delete(task.localId);
    for (const k of [...this.restoredSoFar.keys()]) if (k.startsWith(`${task.localId}/`)) this.restoredSoFar.delete(k);
  }

  private readonly purgedAt = new Map<string, number>();

  /**
   * Purges a repartition topic's records below `offset` (committed downstream) with `Log.deleteRecords`, as Kafka
   * Streams does, at most every `REPARTITION_PURGE_INTERVAL_MS` per partition (`force`: now, as when a task closes). Failures are reported, not thrown:
   * a purge is only housekeeping.
   */
  async purgeRepartition(topic: string, partition: number, offset: number, force = false): Promise<void> {
    const k = `${topic}:${partition}`;
    const now = Date.now();
    if (!force && now - (this.purgedAt.get(k) ?? 0) < REPARTITION_PURGE_INTERVAL_MS) return;
    this.purgedAt.set(k, now);
    try {
      await this.o.log.deleteRecords({ topic, partition }, offset);
    } catch (err) {
      this.o.onWarning?.(
        'purge',
        `could not purge ${k} below ${offset}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** Decodes records of one of this version's source topics with its reader schemas. */
  async decode(topic: string, records: readonly LogRecord[]): Promise<Decoded> {
    return withEventTime(this.topology.topics.get(topic), await this.serdes.decode(topic, records));
  }

  /** Partition count of a topic of this version. */
  partitionsOf(topic: string): number {
    const n = this.partitions.get(topic);
    if (n === undefined)
      throw new EddyError('UNKNOWN_PARTITIONS', `partition count of ${topic} is not known; was setup() called?`);
    return n;
  }
}
