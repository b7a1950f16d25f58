import { join } from 'node:path';
import { EddyError, RecordsDeletedError } from '../errors.js';
import type { AppendResult, Log, LogRecord, TopicPartitionOffset } from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import type { Flowing } from '../processors/context.js';
import { NO_STREAM_TIME } from '../processors/window.js';
import type { Serde } from '../state/stores.js';
import { describeQuarantine, type QuarantinedStore, TaskStores } from '../state/task-stores.js';
import type { Subtopology, Topology } from '../topology/graph.js';
import { transactionalId } from '../topology/names.js';
import { Mutex } from '../util/mutex.js';
import { AtLeastOnceCommitter, type Committer, type ProcessingGuarantee, TransactionalCommitter } from './commit.js';
import type { GlobalTableView } from './global-tables.js';
import type { TopologySerdes } from './serdes.js';
import type { RunStats } from './stats.js';
import { type StoreChanges, TaskContext } from './task-context.js';

export { PROCESSING_GUARANTEES, type ProcessingGuarantee } from './commit.js';

/** Everything a task needs from the version that hosts it. */
export interface TaskDeps {
  readonly topology: Topology;
  readonly subtopology: Subtopology;
  readonly partition: number;
  readonly log: Log;
  readonly serdes: TopologySerdes;
  /** Root of the state directory; the task's stores live in `<stateDir>/<group>/<subtopology>_<partition>/<store>.sqlite`. */
  readonly stateDir: string;
  readonly globalTables: ReadonlyMap<string, GlobalTableView<unknown, unknown>>;
  readonly stats: RunStats;
  /** Partition count of any topic the task writes. */
  readonly partitionsOf: (topic: string) => number;
  /** The largest record batch a topic the task writes accepts (`max.message.bytes`), bytes; undefined = no limit. */
  readonly maxRecordBytes: (topic: string) => number | undefined;
  /** Write-cache bound per store, in entries. */
  readonly maxCacheEntries: number;
  /** Default `exactly-once`. */
  readonly processingGuarantee?: ProcessingGuarantee;
  /** A store file was quarantined (corrupt, or another store's); default: a line on stderr. */
  readonly onQuarantine?: (q: QuarantinedStore) => void;
  /** The version's fingerprint, recorded in and checked against every store file. */
  readonly fingerprint?: string;
  /** Progress of store restoration: (store, restored so far, total to restore), in changelog records. */
  readonly onRestore?: (store: string, done: number, total: number) => void;
  /**
   * A check a batch must pass before it commits: started when the batch's processing starts (after it was fetched,
   * so it overlaps the processing) and awaited before the commit; a rejection aborts the batch (nothing of it is
   * written). The runner's partition-count watch (`partition-watch.ts`).
   */
  readonly beforeCommit?: () => Promise<void>;
}

/** One batch of one source partition, decoded by the reader (records that failed to decode are in `bad`). */
export interface DecodedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly ok: readonly Flowing[];
  readonly bad: readonly { readonly raw: LogRecord; readonly reason: string }[];
  /** The batch's last record: the task's position in `topic` becomes its offset + 1. */
  readonly last: LogRecord;
  readonly highWatermark: number;
}

/** `created` -> `open()` -> `restoring` -> (restored) `running` -> `closed`. */
export type TaskState = 'created' | 'restoring' | 'running' | 'closed';

/** The path of a store's SQLite file. */
export function storePath(stateDir: string, group: string, task: string, store: string): string {
  return join(stateDir, group, task, `${store}.sqlite`);
}

/**
 * A task: one partition of one sub-topology of one version (Kafka Streams' StreamTask), id
 * `<topology>.v<N>/<subtopology>_<partition>`. It owns the sub-topology's stores for that partition, its position in
 * each source topic (read from the version's consumer group at `open`), and a committer (see `commit.ts`): the
 * batch's outputs, dead letters, changelog records and consumed offsets become durable together (exactly-once) or
 * records first, offsets after (at-least-once). The SQLite stores apply the write cache only after the commit,
 * recording the changelog offset they reflect; a crash between commit and apply is repaired by the restore.
 * Every call that touches the task's state runs under `lock` (the reader, the catch-up reads and the state updater
 * all reach a task).
 */
export class Task extends TaskContext {
  readonly lock = new Mutex();
  private stateNow: TaskState = 'created';
  private taskStores?: TaskStores;
  private readonly positions = new Map<string, number>();
  private readonly committer: Committer;

  constructor(private readonly d: TaskDeps) {
    super(d);
    const t = d.topology;
    this.committer =
      d.processingGuarantee === 'at-least-once'
        ? new AtLeastOnceCommitter(d.log, t.groupId, d.stats)
        : new TransactionalCommitter(d.log, transactionalId(t.name, t.version, this.localId), t.groupId, d.stats);
  }

  get state(): TaskState {
    return this.stateNow;
  }

  /** The source topics this task reads (partition `partition` of each). */
  get sourceTopics(): readonly string[] {
    return this.d.subtopology.sourceTopics;
  }

  /** The next offset this task processes in `topic` (known after `open`). */
  position(topic: string): number {
    const p = this.positions.get(topic);
    if (p === undefined)
      throw new EddyError('NO_POSITION', `task ${this.taskId} has no position in ${topic}; open() it first`);
    return p;
  }

  /**
   * Fences the task's previous owner (its open transaction would hold back read_committed reads of the changelogs),
   * opens the stores and plans their restore, and reads the task's positions and stream times from the version's
   * consumer group. Throws `RecordsDeletedError` when a committed position is below its partition's log start.
   */
  async open(): Promise<void> {
    const { topology: t, log } = this.d;
    await this.committer.init();
    const restoredSoFar = new Map<string, number>();
    const stores = new TaskStores({
      log,
      stateDir: this.d.stateDir,
      topology: t.name,
      version: t.version,
      group: t.groupId,
      task: this.localId,
      partition: this.partition,
      fingerprint: this.d.fingerprint,
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
      onQuarantine: this.d.onQuarantine ?? ((q) => process.stderr.write(`eddy: ${describeQuarantine(q)}\n`)),
    });
    this.taskStores = stores;
    try {
      await stores.open();
    } catch (err) {
      await stores.close();
      throw err;
    }
    for (const topic of this.d.subtopology.sourceTopics) {
      const committed = (await log.committedOffsets(t.groupId, topic)).get(this.partition);
      const range = (await log.offsets(topic)).find((o) => o.partition === this.partition);
      const low = range?.low ?? 0;
      if (committed !== undefined && committed.offset < low)
        throw new RecordsDeletedError(topic, this.partition, committed.offset, low);
      this.positions.set(topic, committed?.offset ?? low);
      if (committed?.metadata) {
        const times = JSON.parse(committed.metadata) as Record<string, number>;
        for (const [k, v] of Object.entries(times))
          this.streamTimes.set(k, Math.max(v, this.streamTimes.get(k) ?? NO_STREAM_TIME));
      }
    }
    this.stateNow = 'restoring';
  }

  /**
   * Restores up to about `maxRecords` changelog records into the stores (the state updater interleaves these steps
   * with other tasks' processing; see `TaskStores.restoreStep`). Resolves true, and the task is `running`, once every
   * store reached the end its changelog had at `open`.
   */
  async restoreStep(maxRecords: number): Promise<boolean> {
    if (this.stateNow !== 'restoring') return this.stateNow === 'running';
    if (!(await this.taskStores!.restoreStep(maxRecords))) return false;
    for (const [name, store] of this.taskStores!.stores) this.stores.set(name, store);
    this.stateNow = 'running';
    return true;
  }

  /**
   * Processes one decoded batch of one source partition through the sub-topology and commits it. On any failure the
   * transaction (if any) is aborted, the write caches are dropped, and the error is rethrown.
   */
  async process(batch: DecodedBatch): Promise<void> {
    this.checkSource(batch.topic);
    if (this.stateNow !== 'running')
      throw new EddyError('TASK_NOT_RUNNING', `task ${this.taskId} is ${this.stateNow}, not running`);
    const { last } = batch;
    const savedTimes = new Map(this.streamTimes);
    this.d.stats.in(batch.topic, batch.ok.length + batch.bad.length);
    this.d.stats.lag.set(tpKey(batch.topic, batch.partition), batch.highWatermark - (last.offset + 1));
    const check = this.d.beforeCommit?.();
    // awaited before the commit; a batch that fails before must not leave it unhandled
    check?.catch(() => undefined);
    try {
      for (const b of batch.bad) this.writer.deadLetter(b.raw, 'deserialize', b.reason);
      await this.runChain(batch.topic, batch.ok);
      const changes = this.changelogs(last.timestamp);
      for (const c of changes) this.d.stats.out(c.changelog, c.entries.length);
      await check;
      const result = await this.committer.commit({
        records: [...this.writer.pending, ...changes.flatMap((c) => c.records)],
        offsets: [this.consumed(batch.topic, last)],
      });
      this.applied(changes, result);
      this.positions.set(batch.topic, last.offset + 1);
    } catch (err) {
      this.rollback(savedTimes);
      throw err;
    }
  }

  /** The consumed offset to commit for the batch, with the stream times as metadata. */
  private consumed(topic: string, last: LogRecord): TopicPartitionOffset {
    const metadata = this.streamTimes.size > 0 ? JSON.stringify(Object.fromEntries(this.streamTimes)) : undefined;
    return { topic, partition: this.partition, offset: last.offset + 1, metadata };
  }

  /** After the batch's records are durable: counts outputs and applies the write caches at the returned offsets. */
  private applied(changes: readonly StoreChanges[], result: AppendResult): void {
    for (const r of this.writer.pending) this.d.stats.out(r.topic);
    this.writer.countCommitted();
    this.writer.pending.length = 0;
    for (const c of changes) {
      const offs = result.offsets.get(tpKey(c.changelog, this.partition));
      const lastOffset = offs?.[offs.length - 1];
      if (lastOffset === undefined)
        throw new EddyError('COMMIT_RESULT', `commit returned no offsets for ${c.changelog}`);
      c.store.committed(c.entries, lastOffset + 1);
    }
    for (const s of this.stores.values()) s.trim();
  }

  /** Closes stores and the committer (no transaction is open between batches). Safe to call twice. */
  async close(): Promise<void> {
    this.stateNow = 'closed';
    this.stores.clear();
    await this.taskStores?.close();
    this.taskStores = undefined;
    await this.committer.close();
  }
}
