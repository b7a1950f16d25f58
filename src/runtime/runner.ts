import type { Consumer, TopicPartition } from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import type { Topology } from '../topology/graph.js';
import { readerGroupId } from '../topology/names.js';
import { PartitionWatch } from './partition-watch.js';
import { SharedRead } from './reader.js';
import { RegistrySync } from './registry-sync.js';
import type { Readiness, RunnerOptions, RunnerPhase, StoreRestoreStatus, TaskStatus } from './runner-types.js';
import type { RunStats } from './stats.js';
import type { Task } from './task.js';
import { StateUpdater } from './updater.js';
import {
  checkHostedVersions,
  checkVersions,
  createVersions,
  type VersionCheckOptions,
  VersionRuntime,
} from './version.js';

export { REGISTRY_SYNC_MS, RETIRED_CHECK_MS } from './registry-sync.js';
export type {
  BatchInfo,
  Readiness,
  RunnerOptions,
  RunnerPhase,
  StoreRestoreStatus,
  TaskStatus,
} from './runner-types.js';

/**
 * Runs one or several versions of a topology as one member of the topology's reader group (`<name>`), exactly once
 * (or at least once). Each version creates its topics, registers its schemas and bootstraps its global tables, then
 * processes its tasks (one per partition of each sub-topology), committing its positions to its own group
 * `<name>.v<N>`. Inputs are read once for all versions (see `reader.ts`); stores restore in the background
 * (`updater.ts`). `run()` resolves when stopped (or, with `untilIdle`, when every version consumed every input).
 */
export class TopologyRunner {
  /** The versions run, in the order given. */
  readonly versions: readonly VersionRuntime[];
  private consumer?: Consumer;
  private readonly shared: SharedRead;
  private readonly updater: StateUpdater;
  private readonly assigned = new Map<string, TopicPartition>();
  private readonly restoreStatus = new Map<string, Map<string, StoreRestoreStatus>>();
  private stopping = false;
  private failure?: { error: unknown };
  private phaseNow: RunnerPhase = 'created';
  /** A revocation was counted as a rebalance and no batch ran since: the assignment that follows is the same one. */
  private revokedSinceBatch = false;
  /** `untilIdle` ended the run: every version consumed every input. */
  private idleReached = false;
  private readonly registrySync: RegistrySync;
  /** Fails the run when a source or repartition topic's partition count changes (checked before each commit). */
  private readonly partitionWatch: PartitionWatch;

  constructor(
    topologies: Topology | readonly Topology[],
    private readonly opts: RunnerOptions,
  ) {
    const list = Array.isArray(topologies) ? (topologies as readonly Topology[]) : [topologies as Topology];
    checkHostedVersions('TopologyRunner', list);
    this.versions = list.map(
      (t) =>
        new VersionRuntime(t, {
          log: opts.log,
          registry: opts.registry,
          stateDir: opts.stateDir,
          maxCacheEntries: Math.ceil((opts.maxCacheEntries ?? 50_000) / list.length),
          processingGuarantee: opts.processingGuarantee ?? 'exactly-once',
          stats: opts.stats?.(t.version),
          onWarning: opts.onWarning,
          onQuarantine: opts.onQuarantine,
          beforeCommit: () => this.partitionWatch.beforeCommit(),
          onRestore: (task, store, done, total) => {
            const m = this.restoreStatus.get(task) ?? new Map<string, StoreRestoreStatus>();
            m.set(store, { store, restored: done, total });
            this.restoreStatus.set(task, m);
            opts.onRestore?.(task, store, done, total);
          },
        }),
    );
    this.shared = new SharedRead({
      log: opts.log,
      versions: this.versions,
      maxBatchRecords: opts.maxBatchRecords ?? 5_000,
      onError: (err) => this.fail(err),
      onBatch: (b) => {
        this.revokedSinceBatch = false;
        this.markRunning();
        this.opts.onBatch?.(b.version.stats, {
          task: b.task.taskId,
          version: b.version.topology.version,
          topic: b.topic,
          partition: b.partition,
          records: b.records,
          durationMs: b.durationMs,
        });
      },
    });
    this.partitionWatch = new PartitionWatch({
      log: opts.log,
      versions: this.versions,
      onChange: (err) => this.fail(err),
      onWarning: (m) => opts.onWarning?.('partitions', m),
    });
    this.registrySync = new RegistrySync({
      log: opts.log,
      versions: list,
      retiredCheckMs: opts.retiredCheckMs,
      onWarning: opts.onWarning,
      onRetired: () => void this.stop(),
    });
    this.updater = new StateUpdater({
      onRestored: (task) => this.restored(task),
      onError: (_task, err) => this.fail(err),
    });
  }

  /** The first version given (the only one in a single-version run). */
  get topology(): Topology {
    return this.versions[0].topology;
  }

  /** The counters of the first version given (see `statsOf` for the others). */
  get stats(): RunStats {
    return this.versions[0].stats;
  }

  /** The counters of one version. */
  statsOf(version: number): RunStats | undefined {
    return this.versions.find((v) => v.topology.version === version)?.stats;
  }

  /** Records fetched from the log: all, those of shared inputs by the shared consumer, those of catch-up reads. */
  get fetched(): { records: number; sharedInputRecords: number; catchUpRecords: number } {
    const r = this.shared;
    return { records: r.fetchedRecords, sharedInputRecords: r.sharedInputRecords, catchUpRecords: r.catchUpRecords };
  }

  /**
   * Sets every version up: checks the inputs, creates missing internal and output topics, registers schemas,
   * bootstraps global tables. Throws before any write on a missing input topic or partition counts that cannot be
   * co-partitioned.
   */
  async setup(): Promise<void> {
    await this.check();
    await this.create();
  }

  /** What `checkVersion` compares and suggests with (`VersionCheckOptions`). */
  private get checkOptions(): VersionCheckOptions {
    return {
      processingGuarantee: this.opts.processingGuarantee ?? 'exactly-once',
      knownVersions: this.opts.knownVersions ?? this.versions.map((v) => v.topology.version),
    };
  }

  /**
   * The first half of `setup`, which writes nothing to the log: a recorded version whose code changed is refused,
   * every version's inputs, co-partitioning and retention are checked and its schemas registered. A host running
   * versions in threads calls it in every thread before any thread calls `create`.
   */
  async check(): Promise<void> {
    if (this.phaseNow === 'created') this.phaseNow = 'setting-up';
    try {
      await checkVersions(this.opts.log, this.versions, this.checkOptions);
    } catch (err) {
      this.phaseNow = 'failed';
      throw err;
    }
  }

  /**
   * The second half of `setup`, after `check`: records a new version as `replaying`, creates the versions' missing
   * topics and bootstraps their global tables.
   */
  async create(): Promise<void> {
    try {
      await createVersions(this.opts.log, this.versions, this.checkOptions);
    } catch (err) {
      this.phaseNow = 'failed';
      throw err;
    }
  }

  /** Runs until `stop()` (or idle with `untilIdle`). Rejects if a task fails; open tasks are closed either way. */
  async run(): Promise<RunStats> {
    if (this.phaseNow === 'created') await this.setup();
    if (this.stopping) {
      this.phaseNow = 'stopped';
      return this.stats;
    }
    const topics = [...new Set(this.versions.flatMap((v) => v.sourceTopics))];
    const consumer = (this.opts.consumer ?? ((o) => this.opts.log.consumer(o)))({
      groupId: this.opts.readerGroupId ?? readerGroupId(this.topology.name),
      topics,
      maxBatchRecords: this.opts.maxBatchRecords ?? 5_000,
      startPaused: true,
    });
    this.consumer = consumer;
    this.phaseNow = 'joining';
    this.registrySync.start();
    this.partitionWatch.start();
    let failed = false;
    try {
      await consumer.run({
        onAssigned: async (tps) => this.assign(tps),
        onRevoked: (tps) => this.revoke(tps),
        eachBatch: (batch) => this.shared.deliver(batch),
        onIdle: async () => {
          this.markRunning();
          if (!this.opts.untilIdle || this.stopping || !this.idleNow()) return;
          void this.endIdle(); // not awaited: the consumer's stop waits for this handler to return
        },
      });
      if (this.failure !== undefined) throw this.failure.error;
    } catch (err) {
      failed = true;
      throw this.failure?.error ?? err;
    } finally {
      this.registrySync.stop();
      this.partitionWatch.stop();
      await this.closeTasks();
      this.phaseNow = failed ? 'failed' : 'stopped';
    }
    await this.registrySync.sync(this.idleReached);
    return this.stats;
  }

  /**
   * True when nothing is left to do but read new input: every task restored and running, no catch-up read in flight.
   * (With `untilIdle`, the run ends when its consumer is idle too.)
   */
  idleNow(): boolean {
    if (!this.updater.idle || this.shared.catchingUp) return false;
    return this.versions.every((v) => [...v.tasks.values()].every((t) => t.state === 'running'));
  }

  /**
   * Ends the run as `untilIdle` does once every version consumed every input (the versions registry records that a
   * replaying version caught up). A host of version threads calls it when all of them are idle.
   */
  async endIdle(): Promise<void> {
    if (this.stopping) return;
    this.idleReached = true;
    this.stopping = true;
    await this.consumer?.stop();
  }

  /**
   * The versions found `retired` in the versions registry while running (`eddy retire`); when not empty, the run
   * stopped because of them (the batch in flight committed and every task closed, as with `stop()`), and its caller
   * runs the remaining versions again (a worker) or ends (`eddy run`, `eddy replay`).
   */
  get retiredVersions(): readonly number[] {
    return this.registrySync.retired;
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
    const tasks: TaskStatus[] = [];
    for (const v of this.versions)
      for (const t of v.tasks.values()) {
        if (t.state === 'closed') continue;
        const stores = [...(this.restoreStatus.get(t.taskId)?.values() ?? [])];
        tasks.push({ task: t.taskId, state: t.state === 'running' ? 'running' : 'restoring', stores });
      }
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

  private fail(err: unknown): void {
    this.failure ??= { error: err };
    this.stopping = true;
    void this.consumer?.stop();
  }

  /** Records the new tasks and hands them to the state updater; returns at once (restores run in the background). */
  private assign(tps: readonly TopicPartition[]): void {
    if (!this.stopping && !this.revokedSinceBatch) for (const v of this.versions) v.stats.rebalances++;
    this.revokedSinceBatch = false;
    const created: Task[] = [];
    for (const tp of tps) {
      this.assigned.set(tpKey(tp.topic, tp.partition), tp);
      for (const v of this.versions) {
        const r = v.taskFor(tp.topic, tp.partition);
        if (r?.created) created.push(r.task);
      }
    }
    this.updater.add(created);
    this.markRunning();
    this.opts.onAssigned?.(
      created.map((t) => t.taskId),
      tps,
    );
  }

  /**
   * A task's stores are restored: resume its internal inputs at its positions. A shared input partition is resumed
   * once every version's task reading it is restored, at the furthest of their positions (the live version never
   * waits for a replay); the tasks behind catch up with their own reads.
   */
  private restored(task: Task): void {
    const v = this.versions.find((x) => x.tasks.get(task.localId) === task);
    if (v === undefined) return;
    for (const topic of task.sourceTopics) {
      if (!this.assigned.has(tpKey(topic, task.partition))) continue;
      if (v.isInternal(topic)) {
        this.consumer?.resume([{ topic, partition: task.partition, offset: task.position(topic) }]);
        continue;
      }
      if (this.shared.isStarted(topic, task.partition)) {
        this.shared.startCatchUp(v, task, topic);
        continue;
      }
      const readers = this.shared.readersOf(topic);
      const tasks = readers.map((r) => r.existingTask(topic, task.partition));
      if (tasks.some((t) => t === undefined || t.state !== 'running')) continue;
      const at = Math.max(...tasks.map((t) => t!.position(topic)));
      this.shared.started(topic, task.partition, at);
      this.consumer?.resume([{ topic, partition: task.partition, offset: at }]);
      for (const [i, t] of tasks.entries()) this.shared.startCatchUp(readers[i], t!, topic);
    }
    this.opts.onRestored?.(task.taskId);
  }

  /**
   * The host of this runner's version thread (`threads/host.ts`) resumed a shared input partition at `offset`, the
   * furthest position of the versions reading it: this version's task there catches up to it with its own reads.
   */
  sharedStartedAt(topic: string, partition: number, offset: number): void {
    if (!this.shared.isStarted(topic, partition)) return;
    this.shared.startedAt(topic, partition, offset);
    for (const v of this.shared.readersOf(topic)) {
      const task = v.existingTask(topic, partition);
      if (task?.state === 'running') this.shared.startCatchUp(v, task, topic);
    }
  }

  private async revoke(tps: readonly TopicPartition[]): Promise<void> {
    if (!this.stopping) {
      for (const v of this.versions) v.stats.rebalances++;
      this.revokedSinceBatch = true;
    }
    const closing: Promise<void>[] = [];
    const closed: string[] = [];
    for (const tp of tps) {
      this.assigned.delete(tpKey(tp.topic, tp.partition));
      this.shared.stopped(tp.topic, tp.partition);
      for (const v of this.versions) {
        const task = v.existingTask(tp.topic, tp.partition);
        if (task === undefined) continue;
        // Close the task once one of its source partitions goes (co-partitioned topics move together).
        closing.push(this.closeTask(v, task));
        closed.push(task.taskId);
      }
    }
    // all at once: the rebalance waits for the slowest task, not for their sum
    const failed = (await Promise.allSettled(closing)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    this.opts.onRevoked?.(closed, tps);
  }

  private async closeTask(v: VersionRuntime, task: Task): Promise<void> {
    const purges: Promise<void>[] = [];
    if (task.state === 'running')
      for (const topic of task.sourceTopics)
        if (v.isInternal(topic)) purges.push(v.purgeRepartition(topic, task.partition, task.position(topic), true));
    v.removeTask(task);
    this.updater.remove(task);
    this.shared.forget(task);
    this.restoreStatus.delete(task.taskId);
    // A restoring task closes at once: its stores stop between two changelog batches (the step in flight resolves
    // false), so a rebalance never waits for a restore. Others close after the batch or step in flight.
    if (task.state === 'restoring') await task.close();
    else await task.lock.run(() => task.close());
    await Promise.all(purges);
  }

  private async closeTasks(): Promise<void> {
    await this.updater.stop();
    for (const v of this.versions) for (const task of [...v.tasks.values()]) await this.closeTask(v, task);
    await this.shared.drain();
  }
}
