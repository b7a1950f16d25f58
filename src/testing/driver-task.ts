/**
 * One task of the test driver: one partition of one sub-topology, run in memory. It does what the runtime's `Task`
 * does for a batch (route the records through the sub-topology's processors in topological order, collect outputs
 * and dead letters with provenance, capture store changes into changelog records, keep stream times per processor)
 * and then "commits" by appending everything to the driver's in-memory topics, so results equal a real run.
 */
import { withEventTime } from '../runtime/event-time.js';
import { EddyError, UnknownStoreError } from '../errors.js';
import type { LogRecord, ProducerRecord } from '../log/contract.js';
import type { Flowing, ProcessorContext, ReadonlyGlobalTable } from '../processors/context.js';
import { NO_STREAM_TIME } from '../processors/window.js';
import type { GlobalTableView } from '../runtime/global-tables.js';
import { RecordWriter } from '../runtime/records.js';
import type { TopologySerdes } from '../runtime/serdes.js';
import type { RunStats } from '../runtime/stats.js';
import { SqliteKeyValueStore } from '../state/kv-store.js';
import { KeyValueStore, type Serde, WindowStore } from '../state/stores.js';
import { SqliteWindowStore } from '../state/window-store.js';
import type { Subtopology, Topology } from '../topology/graph.js';
import { taskId, versionedTaskId } from '../topology/names.js';

/** Appends records to in-memory topics; returns the offset each got, in order. */
export type Append = (records: readonly ProducerRecord[]) => number[];

/** What a driver task needs from its driver. */
export interface DriverTaskDeps {
  readonly topology: Topology;
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly serdes: TopologySerdes;
  readonly globalTables: ReadonlyMap<string, GlobalTableView<unknown, unknown>>;
  readonly stats: RunStats;
  readonly partitionsOf: (topic: string) => number;
  readonly maxRecordBytes: (topic: string) => number | undefined;
  readonly maxCacheEntries: number;
  readonly append: Append;
  /**
   * Stores to use instead of new empty ones on `:memory:`, by store name (a dry run passes scratch copies of a
   * version's store files, restored from their changelogs). Optional; the task closes them with its own.
   */
  readonly stores?: ReadonlyMap<string, AnyStore>;
}

type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>;

/** A sub-topology partition run in memory (stores on `:memory:` SQLite). */
export class DriverTask implements ProcessorContext {
  readonly taskId: string;
  readonly localId: string;
  readonly partition: number;
  /** Next offset to process, per source topic. */
  readonly positions = new Map<string, number>();
  readonly stores = new Map<string, AnyStore>();
  private readonly streamTimes = new Map<string, number>();
  private readonly writer: RecordWriter;
  private readonly routes = new Map<string, { source: number; order: number[] }>();

  constructor(private readonly d: DriverTaskDeps) {
    const t = d.topology;
    this.partition = d.partition;
    this.localId = taskId(d.subtopology.id, d.partition);
    this.taskId = versionedTaskId(t.name, t.version, d.subtopology.id, d.partition);
    this.writer = new RecordWriter(d);
    for (const id of d.subtopology.nodes) {
      const n = t.nodes[id];
      if (n.kind !== 'source') continue;
      const reach = new Set<number>([id]);
      for (const x of d.subtopology.nodes) if (reach.has(x)) for (const c of t.nodes[x].children) reach.add(c);
      this.routes.set(n.topic!, { source: id, order: d.subtopology.nodes.filter((x) => reach.has(x)) });
    }
    for (const topic of d.subtopology.sourceTopics) this.positions.set(topic, 0);
    for (const name of d.subtopology.stores) {
      const info = t.stores.get(name)!;
      const serde = d.serdes.store(name) as { key: Serde<unknown>; value: Serde<unknown> };
      const store =
        d.stores?.get(name) ??
        (info.kind === 'kv'
          ? new KeyValueStore(new SqliteKeyValueStore(name, ':memory:'), serde.key, serde.value, d.maxCacheEntries)
          : new WindowStore(new SqliteWindowStore(name, ':memory:'), serde.key, serde.value, d.maxCacheEntries));
      this.stores.set(name, store);
    }
  }

  get metrics(): RunStats {
    return this.d.stats;
  }

  /**
   * Processes one batch of records of `topic` (this task's partition, consecutive offsets) like `Task.process`:
   * decode (undecodable records are dead-lettered first), run the processors, then append outputs, dead letters
   * and changelog records together and apply the stores' write caches. On a throw nothing is appended, the caches
   * and stream times are rolled back and the position stays (the next drain retries the batch, as a restarted
   * runtime would).
   */
  async process(topic: string, records: readonly LogRecord[]): Promise<void> {
    const route = this.routes.get(topic);
    if (route === undefined) throw new EddyError('NOT_A_SOURCE', `task ${this.taskId} does not read topic ${topic}`);
    const last = records[records.length - 1];
    const savedTimes = new Map(this.streamTimes);
    try {
      const { ok, bad } = withEventTime(this.d.topology.topics.get(topic), await this.d.serdes.decode(topic, records));
      this.d.stats.in(topic, records.length);
      for (const b of bad) this.writer.deadLetter(b.raw, 'deserialize', b.reason);
      const inputs = new Map<number, Flowing[]>([[route.source, ok]]);
      const { nodes } = this.d.topology;
      for (const id of route.order) {
        const node = nodes[id];
        const input = inputs.get(id) ?? [];
        const out = node.processor === undefined ? input : await node.processor.process(input, this);
        if (out.length === 0) continue;
        for (const c of node.children) {
          const had = inputs.get(c);
          if (had === undefined) inputs.set(c, out as Flowing[]);
          else had.push(...out);
        }
      }
      const changes: { store: AnyStore; changelog: string; entries: ReturnType<AnyStore['pendingChanges']> }[] = [];
      const changelogRecords: ProducerRecord[] = [];
      for (const [name, store] of this.stores) {
        if (store.pendingCount === 0) continue;
        const entries = store.pendingChanges();
        const changelog = this.d.topology.stores.get(name)!.changelog;
        changes.push({ store, changelog, entries });
        for (const e of entries)
          changelogRecords.push({
            topic: changelog,
            partition: this.partition,
            key: e.key,
            value: e.value,
            timestamp: last.timestamp,
          });
      }
      const outputs = [...this.writer.pending];
      const offsets = this.d.append([...outputs, ...changelogRecords]);
      this.writer.countCommitted();
      this.writer.pending.length = 0;
      for (const r of outputs) this.d.stats.out(r.topic);
      let i = outputs.length;
      for (const c of changes) {
        i += c.entries.length;
        this.d.stats.out(c.changelog, c.entries.length);
        c.store.committed(c.entries, offsets[i - 1] + 1);
      }
      for (const s of this.stores.values()) s.trim();
      this.positions.set(topic, last.offset + 1);
    } catch (err) {
      this.writer.clear();
      for (const s of this.stores.values()) s.rolledBack();
      this.streamTimes.clear();
      for (const [k, v] of savedTimes) this.streamTimes.set(k, v);
      throw err;
    }
  }

  /** Stream times of the task's windowed processors (what the runtime commits as offset metadata). */
  streamTimesNow(): ReadonlyMap<string, number> {
    return this.streamTimes;
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
    const g = this.d.globalTables.get(name);
    if (g === undefined) throw new UnknownStoreError(name, [...this.d.globalTables.keys()]);
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

  close(): void {
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
  }
}
