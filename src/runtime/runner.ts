import { performance } from 'node:perf_hooks';
import type { Consumer, Log, TopicPartition, TopicSpec } from '../log/contract.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';
import { taskId } from '../topology/names.js';
import { topicConfigFor } from '../topology/topic-config.js';
import { ConfigError, EddyError, UnknownTopicError } from '../errors.js';
import { type GlobalTableView, bootstrapGlobalTables } from './global-tables.js';
import { TopologySerdes } from './serdes.js';
import { RunStats } from './stats.js';
import { type CommitOffsets, PROCESSING_GUARANTEES, type ProcessingGuarantee, Task } from './task.js';

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
  /**
   * Kafka Streams' `processing.guarantee`; default `exactly-once` (one transaction per batch). `at-least-once`
   * appends each batch's records without a transaction, then commits the consumed offsets as the group member
   * (`Consumer.commitOffsets`, which the backend must offer); a crash in between reprocesses the batch.
   */
  readonly processingGuarantee?: ProcessingGuarantee;
  /** Stop once every input partition is at its end (batch mode); default false (run until `stop()`). */
  readonly untilIdle?: boolean;
  /** Called after every committed batch (progress bars, metrics), with the batch's topic, size and duration. */
  readonly onBatch?: (stats: RunStats, batch: BatchInfo) => void;
  /** Called while stores restore. */
  readonly onRestore?: (task: string, store: string, done: number, total: number) => void;
  /** Called after newly assigned partitions' tasks are open (their stores restored), with those tasks' ids. */
  readonly onAssigned?: (tasks: readonly string[], partitions: readonly TopicPartition[]) => void;
  /** Called after revoked partitions' tasks are closed (also on `stop()`, when every partition is revoked). */
  readonly onRevoked?: (tasks: readonly string[], partitions: readonly TopicPartition[]) => void;
}

/** One committed batch, as reported to `onBatch`. */
export interface BatchInfo {
  readonly task: string;
  readonly topic: string;
  readonly partition: number;
  readonly records: number;
  /** Wall time of decode + process + commit, in ms. */
  readonly durationMs: number;
}

/**
 * Where a runner is: `created` -> `setting-up` (topics, schemas, global tables) -> `joining` (consumer started, no
 * assignment handled yet) -> `running` -> `stopping` -> `stopped`; or `failed` when `setup()`/`run()` rejected.
 */
export type RunnerPhase = 'created' | 'setting-up' | 'joining' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A task's restore progress per store (known from the first restored batch of that store). */
export interface StoreRestoreStatus {
  readonly store: string;
  readonly restored: number;
  readonly total: number;
}

/** An assigned task: `restoring` while its stores catch up with their changelogs, then `running`. */
export interface TaskStatus {
  readonly task: string;
  readonly state: 'restoring' | 'running';
  readonly stores: readonly StoreRestoreStatus[];
}

/** `readiness()`: ready when the runner is running and every assigned task is restored. */
export interface Readiness {
  readonly ready: boolean;
  readonly phase: RunnerPhase;
  readonly tasks: readonly TaskStatus[];
}

/**
 * Runs one topology version as a member of its consumer group `<name>.v<N>`: creates its topics, registers its
 * schemas, bootstraps global tables, then processes every assigned partition in tasks (one per partition of each
 * sub-topology), exactly once (or at least once, see `RunnerOptions.processingGuarantee`). `run()` resolves when
 * stopped (or, with `untilIdle`, when all inputs are consumed).
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
  private phaseNow: RunnerPhase = 'created';
  /** A revocation was counted as a rebalance and no batch ran since: the assignment that follows is the same one. */
  private revokedSinceBatch = false;
  private readonly status = new Map<
    string,
    { state: 'restoring' | 'running'; stores: Map<string, StoreRestoreStatus> }
  >();

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
    if (this.phaseNow === 'created') this.phaseNow = 'setting-up';
    try {
      await this.doSetup();
    } catch (err) {
      this.phaseNow = 'failed';
      throw err;
    }
  }

  private async doSetup(): Promise<void> {
    const { log } = this.opts;
    const t = this.topology;
    const guarantee = this.opts.processingGuarantee ?? 'exactly-once';
    if (!PROCESSING_GUARANTEES.includes(guarantee))
      throw new ConfigError(
        `processingGuarantee: expected one of ${PROCESSING_GUARANTEES.join(', ')}, got ${JSON.stringify(guarantee)}`,
      );
    if (guarantee === 'at-least-once' && this.consumer === undefined) {
      // Before anything is written: the at-least-once path needs offset commits outside transactions.
      const consumer = this.newConsumer();
      if (consumer.commitOffsets === undefined) {
        await consumer.stop();
        throw new ConfigError(
          `processingGuarantee "at-least-once" needs a consumer that commits offsets outside transactions (commitOffsets); the ${log.kind} backend's consumer has none. Use "exactly-once".`,
        );
      }
      this.consumer = consumer;
    }
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
      specs.push({ name: info.name, partitions, compacted: info.compacted, config: topicConfigFor(info.role) });
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
    const consumer = this.consumer ?? this.newConsumer();
    this.consumer = consumer;
    const commitOffsets: CommitOffsets | undefined =
      this.opts.processingGuarantee === 'at-least-once' ? (offsets) => consumer.commitOffsets!(offsets) : undefined;
    if (this.stopping) {
      this.phaseNow = 'stopped';
      return this.stats;
    }
    this.phaseNow = 'joining';
    let failed = false;
    try {
      await consumer.run({
        onAssigned: (tps) => this.assign(tps),
        onRevoked: (tps) => this.revoke(tps),
        eachBatch: async (batch) => {
          const task = this.tasks.get(taskId(this.subOfTopic.get(batch.topic)!, batch.partition));
          if (task === undefined) throw new EddyError('NO_TASK', `no task for ${batch.topic}:${batch.partition}`);
          const started = performance.now();
          this.revokedSinceBatch = false;
          await task.process(batch, commitOffsets);
          this.markRunning();
          this.opts.onBatch?.(this.stats, {
            task: task.taskId,
            topic: batch.topic,
            partition: batch.partition,
            records: batch.records.length,
            durationMs: performance.now() - started,
          });
        },
        onIdle: async () => {
          this.markRunning();
          if (this.opts.untilIdle && !this.stopping) {
            this.stopping = true;
            void consumer.stop();
          }
        },
      });
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await this.closeTasks();
      this.phaseNow = failed ? 'failed' : 'stopped';
    }
    return this.stats;
  }

  private newConsumer(): Consumer {
    const t = this.topology;
    const topics = t.subtopologies.flatMap((s) => s.sourceTopics);
    return this.opts.log.consumer({ groupId: t.groupId, topics, maxBatchRecords: this.opts.maxBatchRecords ?? 5_000 });
  }

  /** Stops fetching, lets the batch in flight commit, closes the tasks. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.phaseNow !== 'stopped' && this.phaseNow !== 'failed') this.phaseNow = 'stopping';
    await this.consumer?.stop();
  }

  /** The runner's phase (see `RunnerPhase`). */
  get phase(): RunnerPhase {
    return this.phaseNow;
  }

  /**
   * Readiness for traffic (a worker's `/ready`): true when the runner is `running` and every assigned task has
   * restored its stores. Lists the assigned tasks with their restore progress.
   */
  readiness(): Readiness {
    const tasks = [...this.status].map(([task, s]) => ({ task, state: s.state, stores: [...s.stores.values()] }));
    tasks.sort((a, b) => a.task.localeCompare(b.task, 'en', { numeric: true }));
    return {
      ready: this.phaseNow === 'running' && tasks.every((t) => t.state === 'running'),
      phase: this.phaseNow,
      tasks,
    };
  }

  private markRunning(): void {
    if (this.phaseNow === 'joining') this.phaseNow = 'running';
  }

  private async assign(tps: readonly TopicPartition[]): Promise<void> {
    if (!this.stopping && !this.revokedSinceBatch) this.stats.rebalances++;
    this.revokedSinceBatch = false;
    const opened: string[] = [];
    for (const tp of tps) {
      const sub = this.subOfTopic.get(tp.topic);
      if (sub === undefined) continue;
      const id = taskId(sub, tp.partition);
      if (!this.tasks.has(id) && !this.status.has(id)) this.status.set(id, { state: 'restoring', stores: new Map() });
    }
    for (const tp of tps) {
      const sub = this.subOfTopic.get(tp.topic);
      if (sub === undefined) continue;
      const id = taskId(sub, tp.partition);
      if (this.tasks.has(id)) continue;
      const status = this.status.get(id)!;
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
        processingGuarantee: this.opts.processingGuarantee,
        onRestore: (store, done, total) => {
          this.stats.restored(store, done - (status.stores.get(store)?.restored ?? 0));
          status.stores.set(store, { store, restored: done, total });
          this.opts.onRestore?.(id, store, done, total);
        },
      });
      await task.open();
      this.tasks.set(id, task);
      status.state = 'running';
      opened.push(id);
    }
    this.markRunning();
    this.opts.onAssigned?.(opened, tps);
  }

  private async revoke(tps: readonly TopicPartition[]): Promise<void> {
    if (!this.stopping) {
      this.stats.rebalances++;
      this.revokedSinceBatch = true;
    }
    const closed: string[] = [];
    for (const tp of tps) {
      const sub = this.subOfTopic.get(tp.topic);
      if (sub === undefined) continue;
      const id = taskId(sub, tp.partition);
      const task = this.tasks.get(id);
      if (task === undefined) continue;
      // Close the task once none of its source partitions is still assigned (co-partitioned topics move together).
      this.tasks.delete(id);
      this.status.delete(id);
      await task.close();
      closed.push(id);
    }
    this.opts.onRevoked?.(closed, tps);
  }

  private async closeTasks(): Promise<void> {
    for (const task of this.tasks.values()) await task.close();
    this.tasks.clear();
    this.status.clear();
  }

  /** Partition count of a topic of this topology. */
  partitionsOf(topic: string): number {
    const n = this.partitions.get(topic);
    if (n === undefined) throw new EddyError('UNKNOWN_PARTITIONS', `partition count of ${topic} is not known; was setup() called?`);
    return n;
  }
}
