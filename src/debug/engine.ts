/**
 * The processing half of a dry run and a trace: some tasks of a topology version (sub-topology x partition), each a
 * test-driver task (`DriverTask`: the runtime's processors, record writer and serdes), fed records read from the
 * real log with their real offsets. Nothing is written anywhere: what the tasks would append (outputs, dead letters,
 * changelog records) is handed to `onAppend`, and repartition records are kept in memory and processed by the
 * downstream task of their partition, when the engine has one.
 */
import type { LogRecord, ProducerRecord } from '../log/contract.js';
import type { GlobalTableView } from '../runtime/global-tables.js';
import type { TopologySerdes } from '../runtime/serdes.js';
import { RunStats } from '../runtime/stats.js';
import type { AnyStore } from '../state/task-stores.js';
import { DriverTask } from '../testing/driver-task.js';
import type { Subtopology, Topology } from '../topology/graph.js';

/** One task the engine runs, with its stores (default: new empty ones in memory) and stream times. */
export interface EngineTask {
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly stores?: ReadonlyMap<string, AnyStore>;
  /** Stream times of windowed processors, by processor name, ms (a version's committed offset metadata). */
  readonly streamTimes?: Readonly<Record<string, number>>;
}

/** Options of `Engine`. */
export interface EngineOptions {
  readonly topology: Topology;
  readonly serdes: TopologySerdes;
  readonly globalTables: ReadonlyMap<string, GlobalTableView<unknown, unknown>>;
  /** Partition count of every topic of the topology. */
  readonly partitions: ReadonlyMap<string, number>;
  readonly tasks: readonly EngineTask[];
  /** Records per `DriverTask.process` call. */
  readonly maxBatchRecords: number;
  /** First offset given to an in-memory record of a topic partition (`topic:partition`; default 0). */
  readonly nextOffsets?: ReadonlyMap<string, number>;
  /** Every record a task would append (outputs, repartition records, dead letters, changelog records), in order. */
  readonly onAppend?: (r: ProducerRecord, offset: number) => void;
}

/** Runs tasks of one topology version in memory over records read elsewhere. */
export class Engine {
  readonly stats = new RunStats();
  private readonly tasks = new Map<string, DriverTask>();
  private readonly queues = new Map<string, LogRecord[]>();
  private readonly next = new Map<string, number>();
  /** Repartition records dropped because no task of the engine reads their partition. */
  notFollowed = 0;

  constructor(private readonly o: EngineOptions) {
    for (const [k, v] of o.nextOffsets ?? []) this.next.set(k, v);
    for (const et of o.tasks) {
      const task = new DriverTask({
        topology: o.topology,
        subtopology: et.subtopology,
        partition: et.partition,
        serdes: o.serdes,
        globalTables: o.globalTables,
        stats: this.stats,
        partitionsOf: (topic) => o.partitions.get(topic) ?? 1,
        maxRecordBytes: () => undefined,
        maxCacheEntries: 50_000,
        append: (records) => this.append(records),
        stores: et.stores,
      });
      for (const [p, ms] of Object.entries(et.streamTimes ?? {})) task.setStreamTime(p, ms);
      for (const topic of et.subtopology.sourceTopics) this.tasks.set(`${topic}:${et.partition}`, task);
    }
  }

  /** True when a task of the engine reads this topic partition. */
  reads(topic: string, partition: number): boolean {
    return this.tasks.has(`${topic}:${partition}`);
  }

  /** The task reading a topic partition, if any (for reading its stores). */
  task(topic: string, partition: number): DriverTask | undefined {
    return this.tasks.get(`${topic}:${partition}`);
  }

  /**
   * Processes records of one topic partition (consecutive, in offset order), then every repartition record they made,
   * down the topology. Throws what the task throws (a processor under the `fail` policy).
   */
  async feed(topic: string, partition: number, records: readonly LogRecord[]): Promise<void> {
    const task = this.tasks.get(`${topic}:${partition}`);
    if (task === undefined || records.length === 0) return;
    for (let i = 0; i < records.length; i += this.o.maxBatchRecords)
      await task.process(topic, records.slice(i, i + this.o.maxBatchRecords));
    await this.drain();
  }

  private async drain(): Promise<void> {
    for (;;) {
      const ready = [...this.queues].find(([, q]) => q.length > 0);
      if (ready === undefined) return;
      const [tp, queue] = ready;
      const records = queue.splice(0, queue.length);
      const cut = tp.lastIndexOf(':');
      const task = this.tasks.get(tp)!;
      const topic = tp.slice(0, cut);
      for (let i = 0; i < records.length; i += this.o.maxBatchRecords)
        await task.process(topic, records.slice(i, i + this.o.maxBatchRecords));
    }
  }

  private append(records: readonly ProducerRecord[]): number[] {
    return records.map((r) => {
      const tp = `${r.topic}:${r.partition}`;
      const offset = this.next.get(tp) ?? 0;
      this.next.set(tp, offset + 1);
      this.o.onAppend?.(r, offset);
      if (this.o.topology.topics.get(r.topic)?.role === 'repartition') {
        if (!this.tasks.has(tp)) this.notFollowed++;
        else {
          const q = this.queues.get(tp) ?? [];
          q.push({ ...r, offset, headers: r.headers ?? {} });
          this.queues.set(tp, q);
        }
      }
      return offset;
    });
  }

  /** Closes every task's stores. */
  close(): void {
    for (const t of new Set(this.tasks.values())) t.close();
  }
}
