import { join } from 'node:path';
import type {
  AppendResult,
  ConsumerBatch,
  Headers,
  Log,
  LogRecord,
  Producer,
  ProducerRecord,
  TopicPartitionOffset,
} from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import { partitionFor } from '../log/partitioner.js';
import type { Flowing, ProcessorContext, ReadonlyGlobalTable } from '../processors/context.js';
import { NO_STREAM_TIME } from '../processors/window.js';
import type { ChangelogEntry } from '../state/sqlite.js';
import { KeyValueStore, type Serde, WindowStore } from '../state/stores.js';
import { type QuarantinedStore, TaskStores, describeQuarantine } from '../state/task-stores.js';
import type { Subtopology, Topology } from '../topology/graph.js';
import { taskId, transactionalId } from '../topology/names.js';
import { EddyError, UnknownStoreError } from '../errors.js';
import type { GlobalTableView } from './global-tables.js';
import { HEADERS, type TopologySerdes } from './serdes.js';
import type { RunStats } from './stats.js';

/**
 * Kafka Streams' `processing.guarantee`: `exactly-once` commits each batch's outputs, changelog records and consumed
 * offsets in one transaction; `at-least-once` appends outputs and changelog records without a transaction, then
 * commits the consumed offsets as the group member (a crash in between reprocesses the batch: duplicates, no loss).
 */
export type ProcessingGuarantee = 'exactly-once' | 'at-least-once';

/** The processing guarantees, default first. */
export const PROCESSING_GUARANTEES: readonly ProcessingGuarantee[] = ['exactly-once', 'at-least-once'];

/** Commits consumed offsets as the consumer-group member (`Consumer.commitOffsets`), for at-least-once. */
export type CommitOffsets = (offsets: readonly TopicPartitionOffset[]) => Promise<void>;

/** Everything a task needs from its runner. */
export interface TaskDeps {
  readonly topology: Topology;
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly log: Log;
  readonly serdes: TopologySerdes;
  /** Root of the state directory; the task's stores live in `<stateDir>/<group>/<taskId>/<store>.sqlite`. */
  readonly stateDir: string;
  readonly globalTables: ReadonlyMap<string, GlobalTableView<unknown, unknown>>;
  readonly stats: RunStats;
  /** Partition count of any topic the task writes. */
  readonly partitionsOf: (topic: string) => number;
  /** Write-cache bound per store, in entries. */
  readonly maxCacheEntries: number;
  /** Default `exactly-once`. */
  readonly processingGuarantee?: ProcessingGuarantee;
  /** Progress of store restoration: (store, restored so far, total to restore). */
  readonly onRestore?: (store: string, done: number, total: number) => void;
}

type AnyStore = KeyValueStore<unknown, unknown> | WindowStore<unknown, unknown>;

/** One store's pending changes of a batch and the changelog records that carry them. */
interface StoreChanges {
  readonly store: AnyStore;
  readonly changelog: string;
  readonly entries: ChangelogEntry[];
  readonly records: ProducerRecord[];
}

/** The path of a store's SQLite file. */
export function storePath(stateDir: string, group: string, task: string, store: string): string {
  return join(stateDir, group, task, `${store}.sqlite`);
}

/**
 * A task: one partition of one sub-topology (Kafka Streams' StreamTask). It owns the sub-topology's stores for that
 * partition and a producer. Exactly-once (the default): the producer is transactional with an id unique to the task,
 * and the batch's outputs, dead letters, changelog records and consumed offsets commit in one transaction; the SQLite
 * stores apply the write cache only after that commit, recording the changelog offset they reflect. A crash between
 * commit and apply is repaired at open by restoring the changelog tail.
 * At-least-once: the producer has no transactional id; the batch's records are appended with `send`, the stores
 * apply from the returned offsets, then the consumed offsets are committed as the group member
 * (`Consumer.commitOffsets`). A crash before the offset commit reprocesses the batch (duplicate outputs and
 * changelog records, and state updated twice for that batch), never loses it.
 */
export class Task implements ProcessorContext {
  readonly taskId: string;
  readonly partition: number;
  private readonly stores = new Map<string, AnyStore>();
  private readonly streamTimes = new Map<string, number>();
  private readonly pending: ProducerRecord[] = [];
  private producer?: Producer;
  /** Per source topic: node ids reachable from its source node, in topological order. */
  private readonly routes = new Map<string, { source: number; order: number[] }>();
  private readonly provenanceTopic: Buffer;

  constructor(private readonly d: TaskDeps) {
    this.partition = d.partition;
    this.taskId = taskId(d.subtopology.id, d.partition);
    this.provenanceTopic = Buffer.from(d.topology.groupId);
    const { nodes } = d.topology;
    for (const id of d.subtopology.nodes) {
      const n = nodes[id];
      if (n.kind !== 'source') continue;
      const reach = new Set<number>([id]);
      for (const x of d.subtopology.nodes) if (reach.has(x)) for (const c of nodes[x].children) reach.add(c);
      this.routes.set(n.topic!, { source: id, order: d.subtopology.nodes.filter((x) => reach.has(x)) });
    }
  }

  private get atLeastOnce(): boolean {
    return this.d.processingGuarantee === 'at-least-once';
  }

  get metrics(): RunStats {
    return this.d.stats;
  }

  /**
   * Opens the task's stores (through `TaskStores`: corrupt or foreign store files are quarantined and rebuilt), restores
   * each from its changelog tail, and recovers stream time.
   */
  async open(): Promise<void> {
    const { topology: t, log } = this.d;
    // Fence the task's previous owner first (a zombie, or a crashed run whose transaction is still open): its open
    // transaction would hold back read_committed reads of the changelogs we are about to restore.
    this.producer = this.atLeastOnce
      ? log.producer()
      : log.producer({ transactionalId: transactionalId(t.name, t.version, this.taskId) });
    await this.producer.init?.();
    // TaskDeps has no quarantine callback yet (the runtime rewrite adds one): until then report on stderr.
    const deps = this.d as TaskDeps & { readonly onQuarantine?: (q: QuarantinedStore) => void; readonly fingerprint?: string };
    const restoredSoFar = new Map<string, number>();
    const stores = new TaskStores({
      log,
      stateDir: this.d.stateDir,
      topology: t.name,
      version: t.version,
      group: t.groupId,
      task: this.taskId,
      partition: this.partition,
      fingerprint: deps.fingerprint,
      maxCacheEntries: this.d.maxCacheEntries,
      stores: this.d.subtopology.stores.map((name) => {
        const info = t.stores.get(name)!;
        const serde = this.d.serdes.store(name) as { key: Serde<unknown>; value: Serde<unknown> };
        return { name, kind: info.kind, changelog: info.changelog, keySerde: serde.key, valueSerde: serde.value };
      }),
      onRestore: (store, done, total) => {
        this.d.stats.restoredRecords += done - (restoredSoFar.get(store) ?? 0);
        restoredSoFar.set(store, done);
        this.d.onRestore?.(store, done, total);
      },
      onQuarantine: deps.onQuarantine ?? ((q) => process.stderr.write(`eddy: ${describeQuarantine(q)}\n`)),
    });
    try {
      await stores.open();
      await stores.restoreAll();
    } catch (err) {
      await stores.close();
      throw err;
    }
    for (const [name, store] of stores.stores) this.stores.set(name, store);
    for (const topic of this.d.subtopology.sourceTopics) {
      const committed = (await log.committedOffsets(t.groupId, topic)).get(this.partition);
      if (committed?.metadata) {
        const times = JSON.parse(committed.metadata) as Record<string, number>;
        for (const [k, v] of Object.entries(times)) this.streamTimes.set(k, Math.max(v, this.streamTimes.get(k) ?? NO_STREAM_TIME));
      }
    }
  }

  /**
   * Processes one batch of one source topic through the sub-topology and commits it (exactly once, or at least once
   * through `commitOffsets`, which at-least-once requires). On any failure the transaction (if any) is aborted, the
   * write caches are dropped, and the error is rethrown.
   */
  async process(batch: ConsumerBatch, commitOffsets?: CommitOffsets): Promise<void> {
    const route = this.routes.get(batch.topic);
    if (route === undefined) throw new EddyError('NOT_A_SOURCE', `task ${this.taskId} does not read topic ${batch.topic}`);
    const last = batch.records[batch.records.length - 1];
    if (last === undefined) return;
    const savedTimes = new Map(this.streamTimes);
    this.d.stats.in(batch.topic, batch.records.length);
    this.d.stats.lag.set(tpKey(batch.topic, batch.partition), batch.highWatermark - (last.offset + 1));
    try {
      const { ok, bad } = await this.d.serdes.decode(batch.topic, batch.records);
      for (const b of bad) this.deadLetterRaw(b.raw, 'deserialize', b.reason);
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
      if (this.atLeastOnce) await this.commitAtLeastOnce(batch.topic, last, commitOffsets);
      else await this.commit(batch.topic, last);
    } catch (err) {
      this.pending.length = 0;
      for (const s of this.stores.values()) s.rolledBack();
      this.streamTimes.clear();
      for (const [k, v] of savedTimes) this.streamTimes.set(k, v);
      throw err;
    }
  }

  /** The batch's changelog records per store with pending changes. */
  private changelogs(last: LogRecord): StoreChanges[] {
    const out: StoreChanges[] = [];
    for (const [name, store] of this.stores) {
      if (store.pendingCount === 0) continue;
      const entries = store.pendingChanges();
      const changelog = this.d.topology.stores.get(name)!.changelog;
      const { partition } = this;
      const { timestamp } = last;
      const records = entries.map((e) => ({ topic: changelog, partition, key: e.key, value: e.value, timestamp }));
      out.push({ store, changelog, entries, records });
    }
    return out;
  }

  /** The consumed offset to commit for the batch, with the stream times as metadata. */
  private consumed(topic: string, last: LogRecord): TopicPartitionOffset {
    const metadata = this.streamTimes.size > 0 ? JSON.stringify(Object.fromEntries(this.streamTimes)) : undefined;
    return { topic, partition: this.partition, offset: last.offset + 1, metadata };
  }

  /** After the batch's records are appended: counts outputs and applies the write caches at the returned offsets. */
  private applied(changes: readonly StoreChanges[], result: AppendResult): void {
    this.d.stats.commits++;
    for (const r of this.pending) this.d.stats.out(r.topic);
    this.pending.length = 0;
    for (const c of changes) {
      const offs = result.offsets.get(tpKey(c.changelog, this.partition));
      const lastOffset = offs?.[offs.length - 1];
      if (lastOffset === undefined)
        throw new EddyError('COMMIT_RESULT', `commit returned no offsets for ${c.changelog}`);
      c.store.committed(c.entries, lastOffset + 1);
    }
    for (const s of this.stores.values()) s.trim();
  }

  /** At-least-once: append outputs, dead letters and changelog records (no transaction), then commit the offsets. */
  private async commitAtLeastOnce(topic: string, last: LogRecord, commit: CommitOffsets | undefined): Promise<void> {
    if (commit === undefined)
      throw new EddyError('NO_OFFSET_COMMIT', `task ${this.taskId} runs at-least-once without an offset commit`);
    const changes = this.changelogs(last);
    for (const c of changes) this.d.stats.out(c.changelog, c.entries.length);
    const result = await this.producer!.send([...this.pending, ...changes.flatMap((c) => c.records)]);
    this.applied(changes, result);
    await commit([this.consumed(topic, last)]);
  }

  private async commit(topic: string, last: LogRecord): Promise<void> {
    const tx = await this.producer!.transaction();
    try {
      tx.send(this.pending);
      const changes = this.changelogs(last);
      for (const c of changes) {
        this.d.stats.out(c.changelog, c.entries.length);
        tx.send(c.records);
      }
      tx.sendOffsets(this.d.topology.groupId, [this.consumed(topic, last)]);
      this.applied(changes, await tx.commit());
    } catch (err) {
      this.d.stats.aborts++;
      await tx.abort().catch(() => undefined);
      throw err;
    }
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
    const serdes = this.d.serdes.topic(topic);
    const key = serdes.key.serialize(rec.key);
    this.pending.push({
      topic,
      partition: partitionFor(key, this.d.partitionsOf(topic)),
      key,
      value: serdes.value.serialize(rec.value),
      headers: this.provenance(rec, {}),
      timestamp: rec.timestamp,
    });
  }

  deadLetter(rec: Flowing, processor: string, reason: string): void {
    this.deadLetterRaw(rec.raw, processor, reason, rec);
  }

  private deadLetterRaw(raw: LogRecord, processor: string, reason: string, rec?: Flowing): void {
    const dlq = this.d.topology.deadLetterTopic;
    const base: Headers = { ...raw.headers, [HEADERS.dlqReason]: Buffer.from(reason), [HEADERS.dlqProcessor]: Buffer.from(processor) };
    this.pending.push({
      topic: dlq,
      partition: raw.partition % this.d.partitionsOf(dlq),
      key: raw.key,
      value: raw.value,
      headers: this.provenance(rec ?? { origin: { topic: raw.topic, partition: raw.partition, offset: raw.offset } }, base),
      timestamp: raw.timestamp,
    });
    this.d.stats.deadLetter(processor);
  }

  private provenance(rec: Pick<Flowing, 'origin'>, base: Headers): Headers {
    base[HEADERS.sourceTopic] = this.bytesOf(rec.origin.topic);
    base[HEADERS.sourcePartition] = this.bytesOf(String(rec.origin.partition));
    base[HEADERS.sourceOffset] = Buffer.from(String(rec.origin.offset));
    base[HEADERS.topology] = this.provenanceTopic;
    return base;
  }

  private readonly headerBytes = new Map<string, Buffer>();
  /** Topic names and partition numbers repeat on every record: encode each once. */
  private bytesOf(s: string): Buffer {
    let b = this.headerBytes.get(s);
    if (b === undefined) {
      b = Buffer.from(s);
      if (this.headerBytes.size < 10_000) this.headerBytes.set(s, b);
    }
    return b;
  }

  /** Aborts nothing (no transaction is open between batches); closes stores and the producer. Safe to call twice. */
  async close(): Promise<void> {
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
    await this.producer?.close();
    this.producer = undefined;
  }
}
