/**
 * The embedded log: eddy's default `Log` backend, everything in ONE SQLite file (better-sqlite3, WAL).
 * Several processes may open the same file: appends and commits serialize on SQLite's write lock, consumer
 * groups coordinate through heartbeat leases and partition claims stored in the file (see `group.ts`).
 */

import {
  ConfigError,
  InvalidStateError,
  RebalanceInProgressError,
  RecordsDeletedError,
  TopicMismatchError,
} from '../../errors.js';
import type {
  Consumer,
  ConsumerOptions,
  Log,
  LogRecord,
  PartitionOffsets,
  Producer,
  ReadOptions,
  TopicDescription,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from '../contract.js';
import { checkConsumerOptions, checkDeleteRecordsOffset } from '../validate.js';
import { DEFAULT_GROUP_TIMINGS, EmbeddedConsumer, type GroupTimings } from './consumer.js';
import { GroupStore } from './group.js';
import { EmbeddedProducer, EmbeddedTransaction } from './producer.js';
import { LogStore } from './store.js';

export { assignSlots, computeSlots, type Slot } from './group.js';
export type { GroupTimings };
export { DEFAULT_GROUP_TIMINGS, EmbeddedConsumer, EmbeddedProducer, EmbeddedTransaction };

/** Options of `EmbeddedLog`; all times in ms. */
export interface EmbeddedLogOptions extends Partial<GroupTimings> {
  /** How long a statement waits for a lock held by another connection before `LogBusyError`. Default 10,000. */
  readonly busyTimeoutMs?: number;
  /**
   * The write lock shared by the threads of one process that open this file (`writeLock` of the first one, passed
   * to the others, e.g. version threads). A writer waiting for another thread's transaction then wakes the moment
   * it ends, instead of in SQLite's busy-handler sleeps (1 to 100 ms steps), which left two version threads waiting
   * on each other a quarter of the time. Other processes still wait through SQLite's locking. Default: a new one.
   */
  readonly writeLock?: SharedArrayBuffer;
}

/**
 * A `Log` in one SQLite file. Its tables are prefixed `log_`; other components may keep their own tables in
 * the same file. Methods are async to match the contract but run synchronously on the caller's thread.
 *
 * Errors: `UnknownTopicError`, `UnknownPartitionError`, `TopicMismatchError`, `ProducerFencedError`,
 * `ConfigError` (invalid topic spec or read options), `InvalidStateError` (used after `close`),
 * `LogBusyError` (lock wait longer than the busy timeout; retriable).
 */
export class EmbeddedLog implements Log {
  readonly kind = 'embedded' as const;
  /** The SQLite file path. */
  readonly path: string;
  /** This connection's in-process write lock (see `EmbeddedLogOptions.writeLock`): pass it to threads opening the file. */
  readonly writeLock: SharedArrayBuffer;
  private readonly store: LogStore;
  private readonly group: GroupStore;
  private readonly timings: GroupTimings;
  private readonly producers = new Set<EmbeddedProducer>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private closing: Promise<void> | undefined;

  /**
   * Opens or creates the log file (and its parent directories); callers usually pass `./.eddy/log.db`.
   * Throws better-sqlite3's `SqliteError` if the file cannot be opened.
   */
  constructor(path: string, opts: EmbeddedLogOptions = {}) {
    this.path = path;
    this.timings = {
      sessionTimeoutMs: opts.sessionTimeoutMs ?? DEFAULT_GROUP_TIMINGS.sessionTimeoutMs,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? DEFAULT_GROUP_TIMINGS.heartbeatIntervalMs,
      idlePollMs: opts.idlePollMs ?? DEFAULT_GROUP_TIMINGS.idlePollMs,
      claimRetryMs: opts.claimRetryMs ?? DEFAULT_GROUP_TIMINGS.claimRetryMs,
      maxPollIntervalMs: opts.maxPollIntervalMs ?? DEFAULT_GROUP_TIMINGS.maxPollIntervalMs,
    };
    this.writeLock = opts.writeLock ?? new SharedArrayBuffer(4);
    this.store = new LogStore(path, opts.busyTimeoutMs ?? 10_000, new Int32Array(this.writeLock));
    this.group = new GroupStore(this.store.db, (fn) => this.store.writeTx(fn));
  }

  /** Same as `new EmbeddedLog(path, opts)`. */
  static open(path: string, opts: EmbeddedLogOptions = {}): EmbeddedLog {
    return new EmbeddedLog(path, opts);
  }

  /**
   * Creates the topics that do not exist, all in one transaction. Identical specs are a no-op (`config` is
   * kept but not compared); a different partition count or cleanup policy throws `TopicMismatchError`.
   */
  async createTopics(specs: readonly TopicSpec[]): Promise<void> {
    this.store.createTopics(specs, (existing, spec) => {
      const compacted = spec.compacted ?? false;
      const what =
        existing.partitions !== spec.partitions
          ? `${existing.partitions} partition(s), not ${spec.partitions}`
          : `cleanup policy ${existing.compacted ? 'compact' : 'delete'}, not ${compacted ? 'compact' : 'delete'}`;
      throw new TopicMismatchError(spec.name, what);
    });
  }

  /** Deletes topics with their records and committed group offsets. Unknown names are ignored. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    this.store.deleteTopics(names);
  }

  /** All topics, sorted by name. */
  async listTopics(): Promise<TopicDescription[]> {
    return this.store.listTopics();
  }

  /** One topic, or undefined. */
  async describeTopic(name: string): Promise<TopicDescription | undefined> {
    const t = this.store.topic(name);
    return t === undefined ? undefined : { name: t.name, partitions: t.partitions, compacted: t.compacted };
  }

  /** Partition counts of the existing topics among `topics` (the embedded log cannot add partitions to a topic). */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const name of topics) {
      const t = this.store.topic(name);
      if (t !== undefined) out.set(name, t.partitions);
    }
    return out;
  }

  /** Low and high offset of every partition, by partition. Throws `UnknownTopicError`. */
  async offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.store.offsets(this.store.requireTopic(topic));
  }

  /**
   * The group's committed offsets of a topic: partition -> `{ offset, metadata? }` (metadata only when one
   * was committed). Throws `UnknownTopicError`.
   */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, { offset: number; metadata?: string }>> {
    return this.store.committedOffsets(groupId, this.store.requireTopic(topic).topicId);
  }

  /**
   * Reads one partition in batches of at most `maxBatchRecords` (default 10,000) records, offsets in
   * `[fromOffset ?? low, toOffset ?? high-at-call-time)`. Each batch is its own query, so no lock is held
   * between batches. Errors (`UnknownTopicError`, `UnknownPartitionError`, `ConfigError`) are thrown by the
   * first iteration.
   */
  read(tp: TopicPartition, opts: ReadOptions = {}): AsyncIterable<LogRecord[]> {
    let start: { topicId: number; compacted: boolean; from: number; to: number; max: number } | undefined;
    let error: unknown;
    try {
      const topic = this.store.requireTopic(tp.topic);
      this.store.requirePartition(topic, tp.partition);
      const max = opts.maxBatchRecords ?? 10_000;
      if (!Number.isInteger(max) || max < 1) {
        throw new ConfigError(`maxBatchRecords must be an integer >= 1, got ${max}.`, { maxBatchRecords: max });
      }
      const low = this.store.low(topic.topicId, tp.partition);
      const from = Math.max(opts.fromOffset ?? low, low);
      const to = opts.toOffset ?? this.store.high(topic.topicId, tp.partition);
      start = { topicId: topic.topicId, compacted: topic.compacted, from, to, max };
    } catch (err) {
      error = err;
    }
    return this.readBatches(tp, start, error);
  }

  private async *readBatches(
    tp: TopicPartition,
    start: { topicId: number; compacted: boolean; from: number; to: number; max: number } | undefined,
    error: unknown,
  ): AsyncGenerator<LogRecord[]> {
    if (start === undefined) throw error;
    let next = start.from;
    while (next < start.to) {
      // records deleted (deleteRecords) while reading: fail, never skip ahead (compaction moves low legitimately)
      const low = this.store.low(start.topicId, tp.partition);
      if (next < low && !start.compacted) throw new RecordsDeletedError(tp.topic, tp.partition, next, low);
      const batch = this.store.readRecords(tp.topic, start.topicId, tp.partition, next, start.to, start.max);
      if (batch.length === 0) return;
      yield batch;
      next = batch[batch.length - 1].offset + 1;
    }
  }

  /**
   * Commits offsets (with metadata) for a group with no live member, all in one SQLite transaction. Throws
   * `RebalanceInProgressError` (committing nothing) if a member of the group holds a lease, `ConfigError` for a bad
   * offset, `UnknownTopicError`/`UnknownPartitionError`, `LogBusyError`.
   */
  async commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.assertOpen();
    this.store.commitOffsets(groupId, offsets, () => this.requireNoLiveMember(groupId, 'commit offsets'));
  }

  /**
   * Deletes the records of a partition below `beforeOffset` and frees their segments; `low` moves there. At or
   * below `low` does nothing. Throws `ConfigError` (negative, or above the high watermark), `UnknownTopicError`,
   * `UnknownPartitionError`.
   */
  async deleteRecords(tp: TopicPartition, beforeOffset: number): Promise<void> {
    this.assertOpen();
    checkDeleteRecordsOffset(tp.topic, tp.partition, beforeOffset);
    this.store.deleteRecords(tp.topic, tp.partition, beforeOffset);
  }

  /**
   * Deletes groups' committed offsets (and forgets their expired members), in one transaction. Unknown groups are
   * ignored. Throws `RebalanceInProgressError` (deleting nothing) if a group has a live member.
   */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    this.assertOpen();
    this.store.writeTx(() => {
      for (const g of groupIds) this.requireNoLiveMember(g, 'delete the group');
      for (const g of groupIds) {
        this.store.deleteGroupOffsetsInTx(g);
        this.group.deleteGroupInTx(g);
      }
    });
  }

  /**
   * Per partition, the first offset at or after the low offset whose record timestamp is >= `timestampMs`, else
   * the high watermark (scans the partition). Throws `UnknownTopicError`.
   */
  async offsetsForTime(topic: string, timestampMs: number): Promise<Map<number, number>> {
    const t = this.store.requireTopic(topic);
    const out = new Map<number, number>();
    for (let p = 0; p < t.partitions; p++) out.set(p, this.store.offsetForTime(t, p, timestampMs));
    return out;
  }

  /**
   * Compacts a compacted topic now (latest record per key kept, keys ending in a tombstone dropped, offsets
   * unchanged, low offset moved to the first survivor). A no-op for non-compacted topics. Throws
   * `UnknownTopicError`.
   */
  async compact(topic: string): Promise<void> {
    const t = this.store.requireTopic(topic);
    if (t.compacted) this.store.compact(t);
  }

  /**
   * A producer; with `transactionalId` it fences older producers of that id at once (synchronously).
   * Throws `InvalidStateError` after `close`.
   */
  producer(opts: { transactionalId?: string } = {}): Producer {
    this.assertOpen();
    const p = new EmbeddedProducer(this.store, opts.transactionalId, (closed) => this.producers.delete(closed));
    this.producers.add(p);
    return p;
  }

  /**
   * A consumer-group member (see `EmbeddedConsumer`). Throws `ConfigError` for an empty group id, no
   * topics or a bad `maxBatchRecords`; `InvalidStateError` after `close`.
   */
  consumer(opts: ConsumerOptions): Consumer {
    this.assertOpen();
    checkConsumerOptions(opts);
    const c = new EmbeddedConsumer(this.store, this.group, opts, this.timings, (done) => this.consumers.delete(done));
    this.consumers.add(c);
    return c;
  }

  /** Stops running consumers (they leave their groups), closes producers, closes the file. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.producers].map((p) => p.close()));
    this.store.close();
  }

  /** Throws `RebalanceInProgressError` if a member of the group holds a lease (call inside a write transaction). */
  private requireNoLiveMember(groupId: string, what: string): void {
    const live = this.group.liveMembers(groupId, Date.now(), this.timings.sessionTimeoutMs);
    if (live.length > 0) {
      throw new RebalanceInProgressError(
        groupId,
        `cannot ${what}: the group has ${live.length} active member(s) (${live.join(', ')}); stop them first`,
      );
    }
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new InvalidStateError(`The embedded log "${this.path}" is closed.`);
    this.store.assertOpen();
  }
}
