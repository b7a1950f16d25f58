/**
 * What a task and the test driver's task share: the `ProcessorContext` processors see (stores, global tables, stream
 * times, outputs and dead letters through a `RecordWriter`), the routing of a batch through the sub-topology's
 * processors in topological order, the batch's changelog records, and the rollback after a failed batch. `Task`
 * (src/runtime/task.ts) commits through the log; `DriverTask` (src/testing) appends to in-memory topics.
 */
import { EddyError, UnknownStoreError } from '../errors.js';
import type { ProducerRecord } from '../log/contract.js';
import type { Flowing, ProcessorContext, ReadonlyGlobalTable } from '../processors/context.js';
import { NO_STREAM_TIME } from '../processors/window.js';
import type { ChangelogEntry } from '../state/sqlite.js';
import { KeyValueStore, WindowStore } from '../state/stores.js';
import type { Subtopology } from '../topology/graph.js';
import { taskId, versionedTaskId } from '../topology/names.js';
import type { GlobalTableView } from './global-tables.js';
import { RecordWriter, type RecordWriterDeps } from './records.js';
import type { RunStats } from './stats.js';

/** A task's store handle, either kind. */
export type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>;

/** One store's pending changes of a batch and the changelog records that carry them. */
export interface StoreChanges {
  readonly store: AnyStore;
  readonly changelog: string;
  readonly entries: ChangelogEntry[];
  readonly records: ProducerRecord[];
}

/** What a task context needs. */
export interface TaskContextDeps extends RecordWriterDeps {
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly globalTables: ReadonlyMap<string, GlobalTableView<unknown, unknown>>;
  readonly stats: RunStats;
}

export abstract class TaskContext implements ProcessorContext {
  /** `<topology>.v<N>/<subtopology>_<partition>`. */
  readonly taskId: string;
  /** `<subtopology>_<partition>`: the task's folder under the version's state directory. */
  readonly localId: string;
  readonly partition: number;
  /** The task's stores by name (open ones). */
  readonly stores = new Map<string, AnyStore>();
  protected readonly streamTimes = new Map<string, number>();
  protected readonly writer: RecordWriter;
  /** Per source topic: its source node and the node ids reachable from it, in topological order. */
  private readonly routes = new Map<string, { source: number; order: number[] }>();

  protected constructor(private readonly c: TaskContextDeps) {
    const t = c.topology;
    this.partition = c.partition;
    this.localId = taskId(c.subtopology.id, c.partition);
    this.taskId = versionedTaskId(t.name, t.version, c.subtopology.id, c.partition);
    this.writer = new RecordWriter(c);
    for (const id of c.subtopology.nodes) {
      const n = t.nodes[id];
      if (n.kind !== 'source') continue;
      const reach = new Set<number>([id]);
      for (const x of c.subtopology.nodes) if (reach.has(x)) for (const ch of t.nodes[x].children) reach.add(ch);
      this.routes.set(n.topic!, { source: id, order: c.subtopology.nodes.filter((x) => reach.has(x)) });
    }
  }

  get metrics(): RunStats {
    return this.c.stats;
  }

  /** Throws `NOT_A_SOURCE` unless the task reads `topic`. */
  protected checkSource(topic: string): void {
    if (!this.routes.has(topic))
      throw new EddyError('NOT_A_SOURCE', `task ${this.taskId} does not read topic ${topic}`);
  }

  /** Runs decoded records of `topic` through the sub-topology's processors, in topological order. */
  protected async runChain(topic: string, records: readonly Flowing[]): Promise<void> {
    this.checkSource(topic);
    const route = this.routes.get(topic)!;
    const inputs = new Map<number, Flowing[]>([[route.source, [...records]]]);
    const { nodes } = this.c.topology;
    for (const id of route.order) {
      const node = nodes[id];
      const input = inputs.get(id) ?? [];
      const out = node.processor === undefined ? input : await node.processor.process(input, this);
      if (out.length === 0) continue;
      for (const ch of node.children) {
        const had = inputs.get(ch);
        if (had === undefined) inputs.set(ch, out as Flowing[]);
        else had.push(...out);
      }
    }
  }

  /**
   * The batch's changelog records per store with pending changes, each stamped with its entry's timestamp (Kafka
   * Streams' timestamped stores: the changelog record's timestamp is the value's); an entry written without one gets
   * `timestamp`, the batch's last, and keeps it in the store too (`entries` carry the stamped timestamps).
   */
  protected changelogs(timestamp: number): StoreChanges[] {
    const out: StoreChanges[] = [];
    for (const [name, store] of this.stores) {
      if (store.pendingCount === 0) continue;
      const entries = store.pendingChanges().map((e) => ({ ...e, timestampMs: e.timestampMs ?? timestamp }));
      const changelog = this.c.topology.stores.get(name)!.changelog;
      const { partition } = this;
      const records = entries.map((e) => ({
        topic: changelog,
        partition,
        key: e.key,
        value: e.value,
        timestamp: e.timestampMs,
      }));
      out.push({ store, changelog, entries, records });
    }
    return out;
  }

  /** After a failed batch: drops its records and write caches, and puts the stream times back. */
  protected rollback(savedTimes: ReadonlyMap<string, number>): void {
    this.writer.clear();
    for (const s of this.stores.values()) s.rolledBack();
    this.streamTimes.clear();
    for (const [k, v] of savedTimes) this.streamTimes.set(k, v);
  }

  // ---- ProcessorContext ----

  kvStore<K, V>(name: string): KeyValueStore<K, V> {
    const s = this.stores.get(name);
    if (!(s instanceof KeyValueStore)) throw new UnknownStoreError(name, [...this.stores.keys()]);
    return s as KeyValueStore<K, V>;
  }

  windowStore<K, V>(name: string): WindowStore<K, V> {
    const s = this.stores.get(name);
    if (!(s instanceof WindowStore)) throw new UnknownStoreError(name, [...this.stores.keys()]);
    return s as WindowStore<K, V>;
  }

  globalTable<K, V>(name: string): ReadonlyGlobalTable<K, V> {
    const g = this.c.globalTables.get(name);
    if (g === undefined) throw new UnknownStoreError(name, [...this.c.globalTables.keys()]);
    return g as unknown as ReadonlyGlobalTable<K, V>;
  }

  streamTime(processor: string): number {
    return this.streamTimes.get(processor) ?? NO_STREAM_TIME;
  }

  setStreamTime(processor: string, ms: number): void {
    this.streamTimes.set(processor, ms);
  }

  send(topic: string, rec: Flowing): void {
    this.writer.send(topic, rec);
  }

  deadLetter(rec: Flowing, processor: string, reason: string): void {
    this.writer.deadLetter(rec.raw, processor, reason, rec.origin);
  }
}
