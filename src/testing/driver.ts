/**
 * `TopologyTestDriver` (Kafka Streams' name and idea): runs a built topology in memory, with no log and no schema
 * registry server, deterministically. Records piped into an input are serialized with the topology's Avro schemas,
 * partitioned like production (murmur2 over the serialized key, the partition counts given), and flow through the
 * sub-topologies and their repartition topics with the runtime's own processors, record writer, serdes and
 * SQLite-backed stores (on `:memory:`); outputs, dead letters and store contents equal those of a real run.
 */
import { ConfigError, EddyError, UnknownStoreError, UnknownTopicError } from '../errors.js';
import type { LogRecord, ProducerRecord } from '../log/contract.js';
import { partitionFor } from '../log/partitioner.js';
import { NO_STREAM_TIME } from '../processors/window.js';
import { GlobalTableView } from '../runtime/global-tables.js';
import { HEADERS, originOf, TopologySerdes } from '../runtime/serdes.js';
import { RunStats } from '../runtime/stats.js';
import { AvroSerde } from '../schema/avro-serde.js';
import { LocalSchemaRegistry } from '../schema/local-registry.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { KeyValueStore, WindowStore } from '../state/stores.js';
import { deadLetterOf, redriveRecord } from '../tools/dlq.js';
import { type Topology, windowEndMs } from '../topology/graph.js';
import { Mutex } from '../util/mutex.js';
import { DriverTask } from './driver-task.js';
import { inputsOf, partitionCounts } from './partitions.js';
import { kvStoreView, type PartitionStore, windowStoreView } from './store-views.js';
import {
  headersText,
  type RawTestInputRecord,
  type TestDeadLetter,
  type TestDriverOptions,
  type TestInputRecord,
  type TestKeyValueStore,
  type TestOutputRecord,
  type TestWindowStore,
  toHeaders,
} from './types.js';

/**
 * Runs a topology in memory for tests. Create it with `await TopologyTestDriver.create(topology, options)`, pipe
 * records in (`pipeInput`, `pipeInputs`; each call resolves once every record it piped, and every record those
 * made in repartition topics, went through the whole topology), then read `readOutput(topic)`, `readDeadLetters()`,
 * `kvStore(name)`, `windowStore(name)`. `close()` when done.
 *
 * Semantics, the same as the runtime's: each task (sub-topology x partition) processes its records in batches of
 * up to `maxBatchRecords` in offset order; a batch's outputs, dead letters and changelog records are appended
 * together; stream time is per windowed processor and task and only moves with event time (a window closes when
 * a record with a later timestamp reaches its task: pipe one to close windows). Differences, on purpose: records
 * piped into a global table's topic update the table at once (the runtime reads global tables when it starts);
 * offsets are consecutive (Kafka's transaction markers take offsets too); tasks take turns in a fixed order
 * (sub-topology, then partition, one batch each), where the runtime's order across partitions depends on timing, so
 * a result that depends on it (records of several upstream partitions meeting in one repartition partition) is one
 * of the results a real run can give. A batch that throws (a processor under the `fail` policy, a value that does
 * not fit an output's schema) rejects the pipe call with nothing appended; its records stay unprocessed, and every later
 * pipe call processes them again, as a restarted runtime would.
 */
export class TopologyTestDriver {
  /** Counters of the run (records in and out per topic, dead letters per processor, late and dropped records). */
  readonly stats = new RunStats();
  private readonly topics = new Map<string, LogRecord[][]>();
  /** Records of each topic in the order they were appended, and how many `readOutput` already returned. */
  private readonly appended = new Map<string, LogRecord[]>();
  private readonly readCursor = new Map<string, number>();
  private readonly partitions = new Map<string, number>();
  private readonly tasks: DriverTask[] = [];
  private readonly globals = new Map<string, GlobalTableView<unknown, unknown>>();
  private readonly lock = new Mutex();
  /** Dead letters `redriveDeadLetters` sent, by `<dlq topic>:<partition>:<offset>`. */
  private readonly redriven = new Set<string>();
  private clockMs: number;
  private closed = false;

  private constructor(
    readonly topology: Topology,
    private readonly serdes: TopologySerdes,
    private readonly registry: SchemaRegistry,
    private readonly ownsRegistry: boolean,
    private readonly o: TestDriverOptions,
    /** The input topics' serdes, as their producer (the driver) writes them. */
    private readonly producers: ReadonlyMap<string, { key: AvroSerde<unknown>; value: AvroSerde<unknown> }>,
  ) {
    this.clockMs = o.startTimeMs ?? 0;
  }

  /**
   * Registers the topology's schemas and sets up its topics, tasks, stores and global tables.
   * @throws ConfigError on a partition count for a topic that is not an input, a count below 1, or inputs of one
   *   sub-topology that are not co-partitioned; IncompatibleSchemaError when a given registry refuses a schema.
   */
  static async create(topology: Topology, options: TestDriverOptions = {}): Promise<TopologyTestDriver> {
    const partitions = partitionCounts(topology, options.partitions ?? {});
    const max = options.maxBatchRecords ?? 5_000;
    if (!Number.isInteger(max) || max < 1)
      throw new ConfigError(`maxBatchRecords must be an integer >= 1, got ${JSON.stringify(max)}`);
    const registry = options.registry ?? LocalSchemaRegistry.open(':memory:');
    let serdes: TopologySerdes;
    const producers = new Map<string, { key: AvroSerde<unknown>; value: AvroSerde<unknown> }>();
    try {
      // The driver is the producer of its inputs: it registers their schemas as a producer would (eddy itself
      // never registers under the subjects it reads), before the topology checks that it can read them.
      for (const info of topology.topics.values()) {
        if (
          (info.role !== 'source' && info.role !== 'global') ||
          info.keySchema === undefined ||
          info.valueSchema === undefined
        )
          continue;
        producers.set(info.name, {
          key: await AvroSerde.create(registry, `${info.name}-key`, info.keySchema),
          value: await AvroSerde.create(registry, `${info.name}-value`, info.valueSchema),
        });
      }
      serdes = await TopologySerdes.create(topology, registry);
    } catch (err) {
      if (options.registry === undefined) await registry.close();
      throw err;
    }
    const d = new TopologyTestDriver(topology, serdes, registry, options.registry === undefined, options, producers);
    d.setup(partitions);
    return d;
  }

  private setup(partitions: ReadonlyMap<string, number>): void {
    const t = this.topology;
    for (const [name, n] of partitions) this.partitions.set(name, n);
    for (const [name, n] of this.partitions) {
      this.topics.set(
        name,
        Array.from({ length: n }, () => []),
      );
      this.appended.set(name, []);
    }
    for (const g of t.globalTables.values())
      this.globals.set(g.name, new GlobalTableView(g.name, g.topic, this.serdes.topic(g.topic).key));
    for (const sub of t.subtopologies) {
      const n = this.partitions.get(sub.sourceTopics[0])!;
      for (let p = 0; p < n; p++)
        this.tasks.push(
          new DriverTask({
            topology: t,
            subtopology: sub,
            partition: p,
            serdes: this.serdes,
            globalTables: this.globals,
            stats: this.stats,
            partitionsOf: (x) => this.partitionsOf(x),
            maxRecordBytes: (x) => this.o.maxRecordBytes?.[x],
            maxCacheEntries: this.o.maxCacheEntries ?? 50_000,
            append: (records) => this.append(records),
          }),
        );
    }
  }

  /** The partition count of a topic of the topology. */
  partitionsOf(topic: string): number {
    const n = this.partitions.get(topic);
    if (n === undefined) throw new UnknownTopicError(topic, [...this.partitions.keys()]);
    return n;
  }

  /** The driver's input clock: the timestamp a piped record without one gets, ms since epoch. */
  get inputTimeMs(): number {
    return this.clockMs;
  }

  /** Moves the input clock forward by `ms` (it never moves back). It does not move stream time: records do. */
  advanceInputTime(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advanceInputTime: ms must be >= 0, got ${ms}`);
    this.clockMs += ms;
  }

  /**
   * Pipes one record into an input topic (a source or a global table's topic) and processes it through the whole
   * topology. The key and value are serialized with the topic's schemas: a value that does not fit throws
   * `SerdeError` naming the field, and nothing is piped.
   */
  async pipeInput<K, V>(topic: string, key: K, value: V | null, timestampMs?: number): Promise<void> {
    return this.pipeInputs([{ topic, key, value, timestampMs }]);
  }

  /**
   * Pipes records (serialized all first: one that does not fit its schema stops the call before any is piped),
   * then processes them, in batches of up to `maxBatchRecords` per task and partition.
   */
  async pipeInputs(records: readonly TestInputRecord[]): Promise<void> {
    return this.pipeRawInputs(records.map((r) => this.serializeInput(r)));
  }

  /**
   * The bytes a producer would write for `r` (the Confluent wire format with the topic's schema ids), to pipe with
   * `pipeRawInputs` among raw records. Throws `SerdeError` when the key or value does not fit the topic's schema.
   */
  serializeInput(r: TestInputRecord): RawTestInputRecord {
    const s = this.inputSerdes(r.topic);
    const key = r.key === null || r.key === undefined ? null : s.key.serialize(r.key);
    const value = r.value === null ? null : s.value.serialize(r.value);
    return { topic: r.topic, key, value, timestampMs: r.timestampMs, headers: r.headers };
  }

  /** Pipes records as bytes (malformed records, other writer schemas), then processes them. */
  async pipeRawInputs(records: readonly RawTestInputRecord[]): Promise<void> {
    this.checkOpen();
    // Checked before any record is appended: a bad topic or partition pipes nothing.
    const partitions = records.map((r) => {
      this.inputSerdes(r.topic);
      const n = this.partitionsOf(r.topic);
      const partition = r.partition ?? partitionFor(r.key, n);
      if (!Number.isInteger(partition) || partition < 0 || partition >= n)
        throw new RangeError(`partition ${partition} of ${r.topic} is outside [0, ${n})`);
      return partition;
    });
    return this.lock.run(async () => {
      const globalRecords: LogRecord[] = [];
      for (const [i, r] of records.entries()) {
        const timestamp = r.timestampMs ?? this.clockMs;
        if (r.timestampMs === undefined) this.clockMs += this.o.autoAdvanceMs ?? 0;
        const partition = partitions[i];
        const [offset] = this.append([
          { topic: r.topic, partition, key: r.key, value: r.value, headers: toHeaders(r.headers), timestamp },
        ]);
        if (this.topology.topics.get(r.topic)!.role === 'global')
          globalRecords.push(this.topics.get(r.topic)![partition][offset]);
      }
      await this.applyGlobal(globalRecords);
      await this.drain();
    });
  }

  private inputSerdes(topic: string) {
    const info = this.topology.topics.get(topic);
    if (info === undefined || (info.role !== 'source' && info.role !== 'global'))
      throw new EddyError(
        'NOT_AN_INPUT',
        `"${topic}" is not an input topic of ${this.topology.name}; inputs: ${inputsOf(this.topology).join(', ')}`,
        {
          details: { topic },
        },
      );
    return this.producers.get(topic) ?? this.serdes.topic(topic);
  }

  /** Applies records of global tables' topics to the tables (undecodable ones are skipped, as at bootstrap). */
  private async applyGlobal(records: readonly LogRecord[]): Promise<void> {
    for (const r of records) {
      const s = this.serdes.topic(r.topic);
      for (const view of this.globals.values()) {
        if (view.topic !== r.topic) continue;
        try {
          if (r.key === null) throw new Error('no key');
          await s.key.prepare([AvroSerde.schemaIdOf(r.key)]);
          if (r.value !== null) await s.value.prepare([AvroSerde.schemaIdOf(r.value)]);
          view.set(s.key.deserialize(r.key), r.value === null ? null : s.value.deserialize(r.value));
        } catch {
          view.skipped++;
        }
      }
    }
  }

  /** Runs every task with unprocessed records, batch by batch, until no record is left anywhere. */
  private async drain(): Promise<void> {
    const max = this.o.maxBatchRecords ?? 5_000;
    for (;;) {
      let progressed = false;
      for (const task of this.tasks)
        for (const [topic, pos] of task.positions) {
          const records = this.topics.get(topic)![task.partition];
          if (pos >= records.length) continue;
          await task.process(topic, records.slice(pos, pos + max));
          progressed = true;
        }
      if (!progressed) return;
    }
  }

  private append(records: readonly ProducerRecord[]): number[] {
    return records.map((r) => {
      const parts = this.topics.get(r.topic);
      if (parts === undefined) throw new UnknownTopicError(r.topic, [...this.topics.keys()]);
      const p = parts[r.partition];
      const rec: LogRecord = {
        topic: r.topic,
        partition: r.partition,
        offset: p.length,
        key: r.key,
        value: r.value,
        headers: r.headers ?? {},
        timestamp: r.timestamp,
      };
      p.push(rec);
      this.appended.get(r.topic)!.push(rec);
      return rec.offset;
    });
  }

  /** Every record of a topic as appended so far, partition by partition in offset order (raw bytes). */
  records(topic: string): LogRecord[] {
    const parts = this.topics.get(topic);
    if (parts === undefined) throw new UnknownTopicError(topic, [...this.topics.keys()]);
    return parts.flat();
  }

  /**
   * The records written to an output (or repartition) topic since the last `readOutput` of that topic, in the order
   * they were written, decoded with the topic's schemas.
   */
  readOutput<K = unknown, V = unknown>(topic: string): TestOutputRecord<K, V>[] {
    const info = this.topology.topics.get(topic);
    if (info === undefined || (info.role !== 'output' && info.role !== 'repartition'))
      throw new EddyError(
        'NOT_AN_OUTPUT',
        `"${topic}" is not an output topic of ${this.topology.name}${info?.role === 'dlq' ? ': read dead letters with readDeadLetters()' : ''}; outputs: ${[
          ...this.topology.topics.values(),
        ]
          .filter((i) => i.role === 'output')
          .map((i) => i.name)
          .join(', ')}`,
        { details: { topic } },
      );
    const s = this.serdes.topic(topic);
    return this.unread(topic).map((r) => ({
      topic,
      partition: r.partition,
      offset: r.offset,
      key: (r.key === null ? null : s.key.deserialize(r.key)) as K,
      value: r.value === null ? null : (s.value.deserialize(r.value) as V),
      timestamp: r.timestamp,
      headers: headersText(r.headers),
      source: originOf(r),
    }));
  }

  /**
   * Re-drives this version's dead letters as `eddy dlq redrive` does (src/tools/dlq.ts): each one not re-driven yet
   * whose source is an input of the topology goes back to its source partition with its `eddy.redrive.*` headers,
   * then is processed. This version dead-lettered the originals, so it processes the copies; a driver of another
   * version that is piped these copies (`pipeRawInputs` with their headers) skips them and counts them in
   * `stats.redrivenSkipped`, as the runtime does (src/runtime/redriven.ts). Resolves with the number re-driven.
   */
  async redriveDeadLetters(): Promise<number> {
    this.checkOpen();
    return this.lock.run(async () => {
      const send = this.records(this.topology.deadLetterTopic)
        .map(deadLetterOf)
        .filter((dl) => !this.redriven.has(dl.coordinates) && dl.originalBytes === undefined)
        .filter((dl) => dl.source !== undefined && this.topology.topics.get(dl.source.topic)?.role === 'source');
      for (const dl of send) this.redriven.add(dl.coordinates);
      this.append(send.map(redriveRecord));
      await this.drain();
      return send.length;
    });
  }

  /** The dead letters written since the last call, in the order they were written. */
  readDeadLetters(): TestDeadLetter[] {
    return this.unread(this.topology.deadLetterTopic).map((r) => ({
      partition: r.partition,
      offset: r.offset,
      reason: r.headers[HEADERS.dlqReason]?.toString() ?? '',
      processor: r.headers[HEADERS.dlqProcessor]?.toString() ?? '',
      source: originOf(r),
      keyBytes: r.key,
      valueBytes: r.value,
      key: this.tryDecode(r.key),
      value: this.tryDecode(r.value),
      timestamp: r.timestamp,
      headers: headersText(r.headers),
    }));
  }

  private unread(topic: string): LogRecord[] {
    const all = this.appended.get(topic)!;
    const from = this.readCursor.get(topic) ?? 0;
    this.readCursor.set(topic, all.length);
    return all.slice(from);
  }

  /** Decodes bytes with the topology's serde whose schema id they carry; undefined when none fits. */
  private tryDecode(bytes: Buffer | null): unknown {
    if (bytes === null || bytes.length < 5 || bytes[0] !== 0) return undefined;
    const id = bytes.readInt32BE(1);
    for (const info of this.topology.topics.values()) {
      if (info.keySchema === undefined || info.valueSchema === undefined || info.role === 'changelog') continue;
      const s = this.serdes.topic(info.name);
      for (const serde of [s.key, s.value])
        if (serde.schemaId === id)
          try {
            return serde.deserialize(bytes);
          } catch {
            return undefined;
          }
    }
    return undefined;
  }

  /** Read access to a key-value store over all partitions. Throws `UnknownStoreError`. */
  kvStore<K = unknown, V = unknown>(name: string): TestKeyValueStore<K, V> {
    return kvStoreView(this.storesNamed(name, 'kv') as PartitionStore<KeyValueStore<K, V>>[]);
  }

  /** Read access to a window store over all partitions. Throws `UnknownStoreError`. */
  windowStore<K = unknown, V = unknown>(name: string): TestWindowStore<K, V> {
    const stores = this.storesNamed(name, 'window') as PartitionStore<WindowStore<K, V>>[];
    const info = this.topology.stores.get(name)!;
    return windowStoreView(stores, (start, value) => windowEndMs(info, start, value));
  }

  private storesNamed(name: string, kind: 'kv' | 'window'): PartitionStore<unknown>[] {
    const info = this.topology.stores.get(name);
    if (info === undefined || info.kind !== kind) {
      const known = [...this.topology.stores.values()].filter((s) => s.kind === kind).map((s) => s.name);
      throw new UnknownStoreError(name, known);
    }
    this.checkOpen();
    return this.tasks
      .filter((t) => t.stores.has(name))
      .map((t) => ({ partition: t.partition, store: t.stores.get(name) }));
  }

  /**
   * Stream time of a windowed processor (the largest event time it has seen), ms since epoch: of one partition's
   * task, or the largest over all; undefined before it saw a record.
   */
  streamTime(processor: string, partition?: number): number | undefined {
    let out = NO_STREAM_TIME;
    for (const t of this.tasks) {
      if (partition !== undefined && t.partition !== partition) continue;
      out = Math.max(out, t.streamTimesNow().get(processor) ?? NO_STREAM_TIME);
    }
    return out === NO_STREAM_TIME ? undefined : out;
  }

  /** A global table's current rows count and lookup. Throws `UnknownStoreError`. */
  globalTable<K = unknown, V = unknown>(name: string): { get(key: K): V | undefined; readonly size: number } {
    const g = this.globals.get(name);
    if (g === undefined) throw new UnknownStoreError(name, [...this.globals.keys()]);
    return g as unknown as GlobalTableView<K, V>;
  }

  private checkOpen(): void {
    if (this.closed) throw new EddyError('DRIVER_CLOSED', `the test driver of ${this.topology.name} was closed`);
  }

  /** Closes the stores (and the registry the driver created). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lock.run(() => undefined);
    for (const t of this.tasks) t.close();
    if (this.ownsRegistry) await this.registry.close();
  }
}
