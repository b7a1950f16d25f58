/**
 * `LogStore`: the embedded log's data access layer over one better-sqlite3 connection. Holds the prepared
 * statements and the SQL for topics, appends, reads, committed offsets, producer epochs and compaction.
 * Everything here is synchronous; the public async API lives in `index.ts`, `producer.ts`, `consumer.ts`.
 */

import type Database from 'better-sqlite3';
import {
  ConfigError,
  InvalidStateError,
  LogBusyError,
  storageErrorOf,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../errors.js';
import type {
  LogRecord,
  PartitionOffsets,
  ProducerRecord,
  TopicDescription,
  TopicPartitionOffset,
  TopicSpec,
} from '../contract.js';
import { tpKey } from '../contract.js';
import { checkCommitOffsets } from '../validate.js';
import { SegmentStore } from './records.js';
import { openDatabase } from './schema.js';

/** A topic's row in `log_topics`. */
export interface TopicRow {
  readonly topicId: number;
  readonly name: string;
  readonly partitions: number;
  readonly compacted: boolean;
}

/** Kafka's legal topic names: 1..249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

interface AppendTarget {
  readonly topicId: number;
  readonly topic: string;
  readonly partition: number;
  readonly records: ProducerRecord[];
}

function isBytesOrNull(b: unknown): boolean {
  return b === null || b instanceof Uint8Array;
}

function badRecord(r: ProducerRecord): never {
  throw new ConfigError(
    `Bad record for "${r.topic}" partition ${r.partition}: key and value must be Buffers or null and the ` +
      `timestamp an integer (ms since epoch); got timestamp ${r.timestamp}.`,
    { topic: r.topic, partition: r.partition, timestamp: r.timestamp },
  );
}

/**
 * Takes the in-process write lock of `EmbeddedLogOptions.writeLock` (0 free, 1 held), waiting with `Atomics.wait`:
 * woken as soon as the holder releases it. Throws `LogBusyError` after `timeoutMs`.
 */
function acquire(lock: Int32Array, path: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new LogBusyError(path, timeoutMs, new Error('another thread of this process holds the write lock'));
    Atomics.wait(lock, 0, 1, left);
  }
}

function release(lock: Int32Array): void {
  Atomics.store(lock, 0, 0);
  Atomics.notify(lock, 0, 1);
}

/** `LogBusyError` for SQLite's BUSY/LOCKED errors (a lock wait longer than the busy timeout), else undefined. */
function busyError(err: unknown, path: string, timeoutMs: number): LogBusyError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
    return new LogBusyError(path, timeoutMs, err);
  }
  return undefined;
}

/** Synchronous SQL over the `log_` tables of one SQLite file. */
export class LogStore {
  readonly db: Database.Database;
  private closed = false;
  private readonly s;
  private readonly segments: SegmentStore;

  /**
   * Opens the file (see `openDatabase`).
   * @param path SQLite file path; parent directories are created.
   * @param busyTimeoutMs wait for locks held by other connections, ms.
   */
  constructor(
    readonly path: string,
    readonly busyTimeoutMs: number,
    /** See `EmbeddedLogOptions.writeLock`; never shared by two connections of one thread. */
    private readonly writeLock?: Int32Array,
  ) {
    try {
      this.db = openDatabase(path, { busyTimeoutMs });
    } catch (err) {
      throw busyError(err, path, busyTimeoutMs) ?? storageErrorOf(err, 'the embedded log', path) ?? err;
    }
    const db = this.db;
    this.segments = new SegmentStore(db);
    this.s = {
      topicByName: db.prepare('SELECT topic_id, name, partitions, compacted FROM log_topics WHERE name = ?'),
      topics: db.prepare('SELECT topic_id, name, partitions, compacted FROM log_topics ORDER BY name'),
      insertTopic: db.prepare('INSERT INTO log_topics (name, partitions, compacted, config) VALUES (?, ?, ?, ?)'),
      insertPartition: db.prepare('INSERT INTO log_partitions (topic_id, partition, low, high) VALUES (?, ?, 0, 0)'),
      deleteTopic: db.prepare('DELETE FROM log_topics WHERE topic_id = ?'),
      deletePartitions: db.prepare('DELETE FROM log_partitions WHERE topic_id = ?'),
      deleteGroupOffsets: db.prepare('DELETE FROM log_group_offsets WHERE topic_id = ?'),
      deleteOffsetsOfGroup: db.prepare('DELETE FROM log_group_offsets WHERE group_id = ?'),
      offsets: db.prepare('SELECT partition, low, high FROM log_partitions WHERE topic_id = ? ORDER BY partition'),
      high: db.prepare('SELECT high FROM log_partitions WHERE topic_id = ? AND partition = ?').pluck(),
      low: db.prepare('SELECT low FROM log_partitions WHERE topic_id = ? AND partition = ?').pluck(),
      setHigh: db.prepare('UPDATE log_partitions SET high = ? WHERE topic_id = ? AND partition = ?'),
      setLow: db.prepare('UPDATE log_partitions SET low = ? WHERE topic_id = ? AND partition = ?'),
      upsertGroupOffset: db.prepare(
        'INSERT INTO log_group_offsets (group_id, topic_id, partition, offset, metadata) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (group_id, topic_id, partition) DO UPDATE SET offset = excluded.offset, metadata = excluded.metadata',
      ),
      groupOffsets: db.prepare(
        'SELECT partition, offset, metadata FROM log_group_offsets WHERE group_id = ? AND topic_id = ? ORDER BY partition',
      ),
      bumpEpoch: db
        .prepare(
          'INSERT INTO log_producers (transactional_id, epoch) VALUES (?, 0) ' +
            'ON CONFLICT (transactional_id) DO UPDATE SET epoch = epoch + 1 RETURNING epoch',
        )
        .pluck(),
      epoch: db.prepare('SELECT epoch FROM log_producers WHERE transactional_id = ?').pluck(),
    };
  }

  /** Throws `InvalidStateError` once `close` was called. */
  assertOpen(): void {
    if (this.closed) throw new InvalidStateError(`The embedded log "${this.path}" is closed.`, { path: this.path });
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction (rolled back if `fn` throws). Maps a lock wait longer
   * than the busy timeout to `LogBusyError`. Nested calls become savepoints of the outer transaction.
   */
  writeTx<T>(fn: () => T): T {
    this.assertOpen();
    const outer = this.txDepth === 0 && this.writeLock !== undefined;
    if (outer) acquire(this.writeLock!, this.path, this.busyTimeoutMs);
    this.txDepth++;
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw busyError(err, this.path, this.busyTimeoutMs) ?? storageErrorOf(err, 'the embedded log', this.path) ?? err;
    } finally {
      this.txDepth--;
      if (outer) release(this.writeLock!);
    }
  }

  private txDepth = 0;

  /** The topic named `name`, or undefined. */
  topic(name: string): TopicRow | undefined {
    this.assertOpen();
    const row = this.s.topicByName.get(name) as
      | { topic_id: number; name: string; partitions: number; compacted: number }
      | undefined;
    if (row === undefined) return undefined;
    return { topicId: row.topic_id, name: row.name, partitions: row.partitions, compacted: row.compacted === 1 };
  }

  /** The topic named `name`; throws `UnknownTopicError` (listing known topics) if it does not exist. */
  requireTopic(name: string): TopicRow {
    const t = this.topic(name);
    if (t === undefined)
      throw new UnknownTopicError(
        name,
        this.listTopics().map((d) => d.name),
      );
    return t;
  }

  /** Throws `UnknownPartitionError` unless `partition` is an integer in `[0, topic.partitions)`. */
  requirePartition(topic: TopicRow, partition: number): void {
    if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
      throw new UnknownPartitionError(topic.name, partition, topic.partitions);
    }
  }

  /** All topics, sorted by name. */
  listTopics(): TopicDescription[] {
    this.assertOpen();
    const rows = this.s.topics.all() as { name: string; partitions: number; compacted: number }[];
    return rows.map((r) => ({ name: r.name, partitions: r.partitions, compacted: r.compacted === 1 }));
  }

  /**
   * Creates missing topics in one transaction. Throws `ConfigError` for an invalid name or partition count
   * and `TopicMismatchError` (via `onMismatch`) when a topic exists with other partitions/cleanup policy.
   */
  createTopics(specs: readonly TopicSpec[], onMismatch: (existing: TopicRow, spec: TopicSpec) => never): void {
    for (const spec of specs) {
      if (!TOPIC_NAME.test(spec.name) || spec.name === '.' || spec.name === '..') {
        throw new ConfigError(`Invalid topic name "${spec.name}": use 1-249 characters of [a-zA-Z0-9._-].`, {
          topic: spec.name,
        });
      }
      if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
        throw new ConfigError(`Topic "${spec.name}": partitions must be an integer >= 1, got ${spec.partitions}.`, {
          topic: spec.name,
          partitions: spec.partitions,
        });
      }
    }
    this.writeTx(() => {
      for (const spec of specs) {
        const compacted = spec.compacted ?? false;
        const existing = this.topic(spec.name);
        if (existing !== undefined) {
          if (existing.partitions !== spec.partitions || existing.compacted !== compacted) onMismatch(existing, spec);
          continue;
        }
        const config = spec.config === undefined ? null : JSON.stringify(spec.config);
        const topicId = Number(
          this.s.insertTopic.run(spec.name, spec.partitions, compacted ? 1 : 0, config).lastInsertRowid,
        );
        for (let p = 0; p < spec.partitions; p++) this.s.insertPartition.run(topicId, p);
      }
    });
  }

  /** Deletes topics with their records, partitions and committed group offsets; unknown names are ignored. */
  deleteTopics(names: readonly string[]): void {
    this.writeTx(() => {
      for (const name of names) {
        const t = this.topic(name);
        if (t === undefined) continue;
        this.segments.deleteTopic(t.topicId);
        this.s.deleteGroupOffsets.run(t.topicId);
        this.s.deletePartitions.run(t.topicId);
        this.s.deleteTopic.run(t.topicId);
      }
    });
  }

  /** Low and high offsets of every partition of a topic, by partition. */
  offsets(topic: TopicRow): PartitionOffsets[] {
    this.assertOpen();
    return this.s.offsets.all(topic.topicId) as PartitionOffsets[];
  }

  /** The high watermark of one partition (0 if the partition row is gone). */
  high(topicId: number, partition: number): number {
    return (this.s.high.get(topicId, partition) as number | undefined) ?? 0;
  }

  /** The low offset of one partition (0 if the partition row is gone). */
  low(topicId: number, partition: number): number {
    return (this.s.low.get(topicId, partition) as number | undefined) ?? 0;
  }

  /**
   * Reads up to `limit` records of one partition with `from <= offset < to`, in offset order.
   * Only committed data is ever visible (every write is a SQLite transaction).
   */
  readRecords(topic: string, topicId: number, partition: number, from: number, to: number, limit: number): LogRecord[] {
    this.assertOpen();
    return this.segments.read(topic, topicId, partition, from, to, limit);
  }

  /**
   * Appends records; MUST be called inside `writeTx`. Validates topics, partitions and records (throwing
   * `UnknownTopicError` / `UnknownPartitionError` / `ConfigError` for a non-integer timestamp or a key or
   * value that is not a Buffer or null, which rolls the caller's transaction back), assigns
   * consecutive offsets per partition in send order and advances the high watermarks.
   * @returns `${topic}:${partition}` -> assigned offsets, in send order.
   */
  appendInTx(records: readonly ProducerRecord[]): Map<string, number[]> {
    const byTopic = new Map<string, { row: TopicRow; targets: (AppendTarget | undefined)[] }>();
    const touched: AppendTarget[] = [];
    for (const r of records) {
      let t = byTopic.get(r.topic);
      if (t === undefined) {
        t = { row: this.requireTopic(r.topic), targets: [] };
        byTopic.set(r.topic, t);
      }
      let target = t.targets[r.partition];
      if (target === undefined) {
        this.requirePartition(t.row, r.partition);
        target = { topicId: t.row.topicId, topic: r.topic, partition: r.partition, records: [] };
        t.targets[r.partition] = target;
        touched.push(target);
      }
      if (!Number.isSafeInteger(r.timestamp) || !isBytesOrNull(r.key) || !isBytesOrNull(r.value)) badRecord(r);
      target.records.push(r);
    }
    const result = new Map<string, number[]>();
    for (const t of touched) {
      const first = this.high(t.topicId, t.partition);
      const next = this.segments.append(t.topicId, t.partition, first, t.records);
      this.s.setHigh.run(next, t.topicId, t.partition);
      const offsets = new Array<number>(t.records.length);
      for (let i = 0; i < offsets.length; i++) offsets[i] = first + i;
      result.set(tpKey(t.topic, t.partition), offsets);
    }
    return result;
  }

  /** Upserts one committed group offset; call inside `writeTx`. */
  commitOffsetInTx(groupId: string, topicId: number, partition: number, offset: number, metadata: string | null): void {
    this.s.upsertGroupOffset.run(groupId, topicId, partition, offset, metadata);
  }

  /**
   * Commits group offsets outside any producer transaction (the at-least-once path), all in one SQLite
   * transaction. `check` runs first inside that transaction (e.g. a group-ownership check) and may throw to
   * commit nothing. Throws `ConfigError` for an offset that is not a non-negative integer,
   * `UnknownTopicError`/`UnknownPartitionError`, `LogBusyError`.
   */
  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[], check: () => void = () => {}): void {
    checkCommitOffsets(groupId, offsets);
    this.writeTx(() => {
      check();
      for (const o of offsets) {
        const topic = this.requireTopic(o.topic);
        this.requirePartition(topic, o.partition);
        this.commitOffsetInTx(groupId, topic.topicId, o.partition, o.offset, o.metadata ?? null);
      }
    });
  }

  /** The group's committed offsets of one topic: partition -> offset (+ metadata when one was given). */
  committedOffsets(groupId: string, topicId: number): Map<number, { offset: number; metadata?: string }> {
    this.assertOpen();
    const rows = this.s.groupOffsets.all(groupId, topicId) as {
      partition: number;
      offset: number;
      metadata: string | null;
    }[];
    const out = new Map<number, { offset: number; metadata?: string }>();
    for (const r of rows)
      out.set(r.partition, r.metadata === null ? { offset: r.offset } : { offset: r.offset, metadata: r.metadata });
    return out;
  }

  /**
   * Deletes the records of a partition below `beforeOffset` and moves its low offset there (Kafka's
   * DeleteRecords). An offset at or below low does nothing; above the high watermark throws `ConfigError`.
   * Throws `UnknownTopicError`/`UnknownPartitionError`.
   */
  deleteRecords(topicName: string, partition: number, beforeOffset: number): void {
    this.writeTx(() => {
      const topic = this.requireTopic(topicName);
      this.requirePartition(topic, partition);
      const high = this.high(topic.topicId, partition);
      if (beforeOffset > high) {
        throw new ConfigError(
          `Cannot delete records of ${topicName}:${partition} below offset ${beforeOffset}: the high watermark is ${high}.`,
          { topic: topicName, partition, beforeOffset, high },
        );
      }
      if (beforeOffset <= this.low(topic.topicId, partition)) return;
      this.segments.deleteBelow(topic.topicId, partition, beforeOffset);
      this.s.setLow.run(beforeOffset, topic.topicId, partition);
    });
  }

  /** See `SegmentStore.firstAtOrAfter`: the first offset from low whose timestamp is >= `timestampMs`, or high. */
  offsetForTime(topic: TopicRow, partition: number, timestampMs: number): number {
    this.assertOpen();
    const low = this.low(topic.topicId, partition);
    const high = this.high(topic.topicId, partition);
    return this.segments.firstAtOrAfter(topic.topicId, partition, low, high, timestampMs);
  }

  /** Deletes the committed offsets of consumer groups; call inside `writeTx`. */
  deleteGroupOffsetsInTx(groupId: string): void {
    this.s.deleteOffsetsOfGroup.run(groupId);
  }

  /** Increments (or creates at 0) the epoch of a transactional id and returns the new epoch. */
  bumpEpoch(transactionalId: string): number {
    return this.writeTx(() => this.s.bumpEpoch.get(transactionalId) as number);
  }

  /** The current epoch of a transactional id, or undefined if none was ever registered. */
  epoch(transactionalId: string): number | undefined {
    return this.s.epoch.get(transactionalId) as number | undefined;
  }

  /**
   * Compacts every partition of a compacted topic in one transaction: keeps the latest record per key,
   * drops keys whose latest record is a tombstone, keeps records with a null key, and moves the low offset
   * to the first surviving record (or the high watermark when none survives). Offsets never change.
   */
  compact(topic: TopicRow): void {
    this.writeTx(() => {
      for (let p = 0; p < topic.partitions; p++) {
        const low = this.segments.compactPartition(topic.topicId, p, this.high(topic.topicId, p));
        this.s.setLow.run(low, topic.topicId, p);
      }
    });
  }

  /** Closes the connection. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
