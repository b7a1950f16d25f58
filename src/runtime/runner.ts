import type { Consumer, Log, TopicPartition, TopicSpec } from '../log/contract.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { taskId } from '../topology/names.js';
import { ConfigError, EddyError, UnknownTopicError } from '../errors.js';
import { type GlobalTableView, bootstrapGlobalTables } from './global-tables.js';
import { TopologySerdes } from './serdes.js';
import { RunStats } from './stats.js';
import { Task } from './task.js';

/** Options of a run. */
export interface RunnerOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  /** Root directory of state stores (default `.eddy/state`). */
  readonly stateDir: string;
  /** Max records per batch (and so per transaction); default 5,000. */
  readonly maxBatchRecords?: number;
  /** Write-cache bound per store, in entries; default 50,000. */
  readonly maxCacheEntries?: number;
  /** Stop once every input partition is at its end (batch mode); default false (run until `stop()`). */
  readonly untilIdle?: boolean;
  /** Called after every committed batch (progress bars, metrics). */
  readonly onBatch?: (stats: RunStats) => void;
  /** Called while stores restore. */
  readonly onRestore?: (task: string, store: string, done: number, total: number) => void;
}

/**
 * Runs one topology version as a member of its consumer group `<name>.v<N>`: creates its topics, registers its
 * schemas, bootstraps global tables, then processes every assigned partition in tasks (one per partition of each
 * sub-topology), exactly once. `run()` resolves when stopped (or, with `untilIdle`, when all inputs are consumed).
 */
export class TopologyRunner {
  readonly stats = new RunStats();
  private readonly tasks = new Map<string, Task>();
  private consumer?: Consumer;
  private serdes?: TopologySerdes;
  private globals = new Map<string, GlobalTableView<unknown, unknown>>();
  private readonly partitions = new Map<string, number>();
  private readonly subOfTopic = new Map<string, number>();
  private stopping = false;

  constructor(
    readonly topology: Topology,
    private readonly opts: RunnerOptions,
  ) {
    for (const s of topology.subtopologies) for (const t of s.sourceTopics) this.subOfTopic.set(t, s.id);
  }

  /**
   * Checks the inputs, creates missing internal and output topics, registers schemas. Writes nothing to the log
   * (beyond topic creation and schema registration) and throws before that on a missing input topic or
   * partition counts that cannot be co-partitioned.
   */
  async setup(): Promise<void> {
    const { log } = this.opts;
    const t = this.topology;
    const existing = new Map((await log.listTopics()).map((d) => [d.name, d]));
    let inputPartitions = 0;
    for (const info of t.topics.values()) {
      if (info.role !== 'source' && info.role !== 'global') continue;
      const d = existing.get(info.name);
      if (d === undefined) throw new UnknownTopicError(info.name, [...existing.keys()]);
      this.partitions.set(info.name, d.partitions);
      if (info.role === 'source') inputPartitions = Math.max(inputPartitions, d.partitions);
    }
    for (const s of t.subtopologies) {
      const counts = s.sourceTopics.filter((x) => t.topics.get(x)!.role === 'source').map((x) => [x, this.partitions.get(x)!] as const);
      if (new Set(counts.map((c) => c[1])).size > 1)
        throw new ConfigError(
          `sub-topology ${s.id} reads topics that are not co-partitioned: ${counts.map(([n, p]) => `${n} (${p})`).join(', ')}. Give them the same number of partitions.`,
        );
    }
    const specs: TopicSpec[] = [];
    for (const info of t.topics.values()) {
      if (info.role === 'source' || info.role === 'global') continue;
      const partitions = info.partitions ?? inputPartitions;
      this.partitions.set(info.name, partitions);
      specs.push({ name: info.name, partitions, compacted: info.compacted });
    }
    this.serdes = await TopologySerdes.create(t, this.opts.registry);
    await log.createTopics(specs);
    for (const spec of specs) {
      const d = await log.describeTopic(spec.name);
      if (d !== undefined && d.partitions !== spec.partitions) this.partitions.set(spec.name, d.partitions);
    }
    this.globals = await bootstrapGlobalTables(log, t, this.serdes);
  }

  /** Runs until `stop()` (or idle with `untilIdle`). Rejects if a task fails; open tasks are closed either way. */
  async run(): Promise<RunStats> {
    if (this.serdes === undefined) await this.setup();
    const t = this.topology;
    const topics = t.subtopologies.flatMap((s) => s.sourceTopics);
    const consumer = this.opts.log.consumer({ groupId: t.groupId, topics, maxBatchRecords: this.opts.maxBatchRecords ?? 5_000 });
    this.consumer = consumer;
    if (this.stopping) return this.stats;
    try {
      await consumer.run({
        onAssigned: (tps) => this.assign(tps),
        onRevoked: (tps) => this.revoke(tps),
        eachBatch: async (batch) => {
          const task = this.tasks.get(taskId(this.subOfTopic.get(batch.topic)!, batch.partition));
          if (task === undefined) throw new EddyError('NO_TASK', `no task for ${batch.topic}:${batch.partition}`);
          await task.process(batch);
          this.opts.onBatch?.(this.stats);
        },
        onIdle: async () => {
          if (this.opts.untilIdle && !this.stopping) {
            this.stopping = true;
            void consumer.stop();
          }
        },
      });
    } finally {
      await this.closeTasks();
    }
    return this.stats;
  }

  /** Stops fetching, lets the batch in flight commit, closes the tasks. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.stop();
  }

  private async assign(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) {
      const sub = this.subOfTopic.get(tp.topic);
      if (sub === undefined) continue;
      const id = taskId(sub, tp.partition);
      if (this.tasks.has(id)) continue;
      const task = new Task({
        topology: this.topology,
        subtopology: this.topology.subtopologies[sub],
        partition: tp.partition,
        log: this.opts.log,
        serdes: this.serdes!,
        stateDir: this.opts.stateDir,
        globalTables: this.globals,
        stats: this.stats,
        partitionsOf: (topic) => this.partitionsOf(topic),
        maxCacheEntries: this.opts.maxCacheEntries ?? 50_000,
        onRestore: (store, done, total) => this.opts.onRestore?.(id, store, done, total),
      });
      await task.open();
      this.tasks.set(id, task);
    }
  }

  private async revoke(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) {
      const sub = this.subOfTopic.get(tp.topic);
      if (sub === undefined) continue;
      const id = taskId(sub, tp.partition);
      const task = this.tasks.get(id);
      if (task === undefined) continue;
      // Close the task once none of its source partitions is still assigned (co-partitioned topics move together).
      this.tasks.delete(id);
      await task.close();
    }
  }

  private async closeTasks(): Promise<void> {
    for (const task of this.tasks.values()) await task.close();
    this.tasks.clear();
  }

  /** Partition count of a topic of this topology. */
  partitionsOf(topic: string): number {
    const n = this.partitions.get(topic);
    if (n === undefined) throw new EddyError('UNKNOWN_PARTITIONS', `partition count of ${topic} is not known; was setup() called?`);
    return n;
  }
}
