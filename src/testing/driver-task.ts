/**
 * One task of the test driver: one partition of one sub-topology, run in memory. It does what the runtime's `Task`
 * does for a batch (route the records through the sub-topology's processors in topological order, collect outputs
 * and dead letters with provenance, capture store changes into changelog records, keep stream times per processor)
 * and then "commits" by appending everything to the driver's in-memory topics, so results equal a real run.
 */

import type { LogRecord, ProducerRecord } from '../log/contract.js';
import { withEventTime } from '../runtime/event-time.js';
import type { GlobalTableView } from '../runtime/global-tables.js';
import { withoutSkippedCopies } from '../runtime/redriven.js';
import type { TopologySerdes } from '../runtime/serdes.js';
import type { RunStats } from '../runtime/stats.js';
import { type AnyStore, TaskContext } from '../runtime/task-context.js';
import { SqliteKeyValueStore } from '../state/kv-store.js';
import { KeyValueStore, type Serde, WindowStore } from '../state/stores.js';
import { SqliteWindowStore } from '../state/window-store.js';
import type { Subtopology, Topology } from '../topology/graph.js';

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

/** A sub-topology partition run in memory (stores on `:memory:` SQLite). */
export class DriverTask extends TaskContext {
  /** Next offset to process, per source topic. */
  readonly positions = new Map<string, number>();

  constructor(private readonly d: DriverTaskDeps) {
    super(d);
    const t = d.topology;
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

  /**
   * Processes one batch of records of `topic` (this task's partition, consecutive offsets) like `Task.process`:
   * decode (undecodable records are dead-lettered first), run the processors, then append outputs, dead letters
   * and changelog records together and apply the stores' write caches. On a throw nothing is appended, the caches
   * and stream times are rolled back and the position stays (the next drain retries the batch, as a restarted
   * runtime would).
   */
  async process(topic: string, records: readonly LogRecord[]): Promise<void> {
    this.checkSource(topic);
    const last = records[records.length - 1];
    const savedTimes = new Map(this.streamTimes);
    try {
      // Re-driven copies of another version's dead letters are skipped as the runtime's reader skips them
      // (src/runtime/redriven.ts); the driver's topics are never truncated, so every original is there (log start 0).
      const { ok, bad } = await withoutSkippedCopies(
        this.d.topology,
        withEventTime(this.d.topology.topics.get(topic), await this.d.serdes.decode(topic, records)),
        async () => 0,
        (n) => this.d.stats.redriven(topic, n),
      );
      this.d.stats.in(topic, ok.length + bad.length);
      for (const b of bad) this.writer.deadLetter(b.raw, 'deserialize', b.reason);
      await this.runChain(topic, ok);
      const changes = this.changelogs(last.timestamp);
      const changelogRecords = changes.flatMap((c) => c.records);
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
      this.rollback(savedTimes);
      throw err;
    }
  }

  /** Stream times of the task's windowed processors (what the runtime commits as offset metadata). */
  streamTimesNow(): ReadonlyMap<string, number> {
    return this.streamTimes;
  }

  close(): void {
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
  }
}
