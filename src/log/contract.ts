/**
 * The log contract: what eddy needs from a partitioned, replayable log. Two backends implement it:
 * `embedded` (one SQLite file, the default) and `kafka` (Apache Kafka through kafkajs). One conformance
 * suite (`tests/log/conformance.test.ts`) runs the same scenarios against both.
 *
 * Vocabulary and semantics follow Apache Kafka: a topic has N partitions; each partition is an append-only
 * sequence of records numbered by offset (0, 1, 2, ...); the *high watermark* (end offset) is the offset the
 * next appended record will get; a compacted topic keeps at least the latest record per key and drops a key
 * whose latest record is a tombstone (null value) after compaction; a consumer group stores, per partition,
 * the committed offset = the offset of the next record to read (last processed offset + 1).
 *
 * Offsets are JavaScript numbers (safe to 2^53 - 1). Timestamps are ms since the Unix epoch (event time).
 */

/** Record headers: name to bytes. Names starting with `eddy.` are reserved for provenance (see runtime). */
export type Headers = Record<string, Buffer>;

/** A record as read from the log. `value === null` is a tombstone. */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  /** Event time, ms since epoch. */
  readonly timestamp: number;
}

/**
 * A record to append. The caller chooses the partition (eddy partitions keys itself with Kafka's murmur2
 * partitioner, `partitionFor` in `./partitioner.ts`, so both backends place a key identically).
 */
export interface ProducerRecord {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Headers;
  /** Event time, ms since epoch. */
  readonly timestamp: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** For commits: the next offset to read (last processed + 1). */
  readonly offset: number;
  /** Opaque string kept with a committed offset (Kafka's OffsetCommit metadata); eddy keeps stream time here. */
  readonly metadata?: string;
}

/** What a topic should look like. `createTopics` is idempotent for an identical spec. */
export interface TopicSpec {
  readonly name: string;
  /** Number of partitions, >= 1. */
  readonly partitions: number;
  /** `cleanup.policy=compact` (changelogs, tables, the versions registry). Default false (delete). */
  readonly compacted?: boolean;
  /** Extra broker-level configs (Kafka only; the embedded log keeps but ignores them). */
  readonly config?: Readonly<Record<string, string>>;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: number;
  readonly compacted: boolean;
  /**
   * Time retention (`retention.ms`), ms: -1 keeps records forever. Undefined where the backend deletes nothing by
   * time (the embedded log). eddy's records carry event times that may be years old, so any value >= 0 on a topic
   * eddy reads or writes can delete unread records (see `Log.offsets`' `low`).
   */
  readonly retentionMs?: number;
  /** The largest record batch the broker accepts for this topic (`max.message.bytes`), bytes; undefined = no limit. */
  readonly maxMessageBytes?: number;
}

/** Offsets of one partition: `low` is the first readable offset, `high` the high watermark (end offset). */
export interface PartitionOffsets {
  readonly partition: number;
  readonly low: number;
  readonly high: number;
}

/** The result of appending: per topic-partition, the offsets the records received, in send order. */
export interface AppendResult {
  /** `${topic}:${partition}` -> offsets assigned to the records sent there, in send order. */
  readonly offsets: ReadonlyMap<string, readonly number[]>;
}

/**
 * A transaction (KIP-98): records and consumer offsets that become visible together or not at all.
 * States: open -> committed | aborted. Calling anything after commit/abort throws.
 * MUST: records sent in a transaction are invisible to `read` and to consumers until `commit` resolves;
 * after `abort` (or a crash before commit) they are never visible.
 * MUST: `commit` throws `ProducerFencedError` if a newer producer with the same transactional id exists,
 * and then nothing of the transaction is visible.
 */
export interface Transaction {
  /** Buffers records for the transaction. Returns nothing; offsets are known after commit. */
  send(records: readonly ProducerRecord[]): void;
  /** Adds consumer-group offset commits to the transaction (Kafka's `sendOffsets`, TxnOffsetCommit). */
  sendOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void;
  /** Atomically appends everything sent and commits the offsets. Resolves with the assigned offsets. */
  commit(): Promise<AppendResult>;
  /** Drops everything sent. Safe to call twice. */
  abort(): Promise<void>;
}

/**
 * A producer. With a `transactionalId`, starting it fences any older producer with the same id
 * (Kafka's InitProducerId bumps the epoch). Exactly-once needs one transactional id per task
 * (kafkajs has no KIP-447, so fencing by group generation is not available).
 */
export interface Producer {
  readonly transactionalId?: string;
  /**
   * With a transactional id: fences older producers with the same id now and waits until their open transaction is
   * aborted (Kafka's InitProducerId), instead of at the first `transaction()`. A task calls it before restoring its
   * stores: a crashed predecessor's open transaction would otherwise hold back `read_committed` reads (the last
   * stable offset) of its changelogs and outputs until the transaction timeout. Optional: a backend whose producer
   * creation already fences (the embedded log) may omit it.
   */
  init?(): Promise<void>;
  /** Begins a transaction. At most one is open per producer at a time. */
  transaction(): Promise<Transaction>;
  /** Appends records outside a transaction (at-least-once paths: loaders, tools). */
  send(records: readonly ProducerRecord[]): Promise<AppendResult>;
  /** Releases resources. Safe to call twice. */
  close(): Promise<void>;
}

/** Options for reading a partition directly (restore, inspection, tools); no consumer group involved. */
export interface ReadOptions {
  /** First offset to read; default the partition's low offset. */
  readonly fromOffset?: number;
  /** Stop before this offset; default the high watermark at the time of the call. */
  readonly toOffset?: number;
  /** Records per yielded batch; default 10,000. */
  readonly maxBatchRecords?: number;
}

/** A batch of records from one partition, delivered to a group consumer. */
export interface ConsumerBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly LogRecord[];
  /** The high watermark when the batch was fetched: `highWatermark - (lastOffset + 1)` is the lag. */
  readonly highWatermark: number;
}

/**
 * Callbacks for a group member. `onAssigned` runs before the first batch of a newly assigned partition
 * (restore state there); `onRevoked` runs after the last batch of a partition taken away (commit or abort,
 * close stores). Batches of one partition are delivered in offset order, one at a time.
 */
export interface ConsumerHandlers {
  onAssigned?(partitions: readonly TopicPartition[]): Promise<void>;
  onRevoked?(partitions: readonly TopicPartition[]): Promise<void>;
  /**
   * Processes one batch. The consumer does NOT commit offsets by itself: the handler commits them, usually
   * inside a transaction with its outputs (`Transaction.sendOffsets`). After the handler resolves, the next
   * batch of that partition starts at the batch's last offset + 1. If it throws, the consumer stops and
   * `run` rejects with that error.
   */
  eachBatch(batch: ConsumerBatch): Promise<void>;
  /**
   * Called when every assigned partition is delivering (resumed, not paused) and at its high watermark (nothing
   * left to read right now), and no newly assigned partition waits for `onAssigned`. A paused partition (one
   * waiting for `resume` under `startPaused`, or paused by `pause`) is NOT idle: while any assigned partition is
   * paused, `onIdle` is not called. With no partition assigned, `onIdle` is called.
   */
  onIdle?(): Promise<void>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Max records in one batch; default 5,000. */
  readonly maxBatchRecords?: number;
  /**
   * Co-partitioning: partitions with the same number across all subscribed topics are assigned to the
   * same member together (a Kafka Streams task reads partition p of every co-partitioned input).
   * Default true.
   */
  readonly coPartitioned?: boolean;
  /**
   * Newly assigned partitions are not delivered until `Consumer.resume` names their start offsets. The runtime
   * uses it to restore state off the rebalance path (Kafka Streams' state updater) and to choose positions itself
   * (several topology versions sharing one read keep their positions in their own groups). Default false: a newly
   * assigned partition starts at this group's committed offset (else the log start) once `onAssigned` resolved.
   * MUST: with `startPaused`, the consumer never reads this group's committed offsets to position itself.
   */
  readonly startPaused?: boolean;
}

/**
 * A member of a consumer group. Starts reading each assigned partition at the group's committed offset,
 * or at the partition's low offset when none is committed (`auto.offset.reset=earliest`); with `startPaused`,
 * where `resume` says. Reads committed data only (`isolation.level=read_committed`).
 * MUST: a committed offset below the partition's log start (records deleted before the group read them) makes
 * `run` reject with `RecordsDeletedError`; so does a gap in delivery caused by deleted records. Never skips ahead.
 */
export interface Consumer {
  /** Joins the group and delivers batches until `stop()`; resolves after stop, rejects on handler errors. */
  run(handlers: ConsumerHandlers): Promise<void>;
  /** Stops fetching; lets the batch in flight finish; runs `onRevoked` for all partitions; leaves the group. */
  stop(): Promise<void>;
  /**
   * Commits offsets (next offset to read, + optional metadata) for this consumer's group OUTSIDE any transaction, as
   * this group member (Kafka's OffsetCommit with the member's generation): the at-least-once path, after the
   * batch's records were appended with `Producer.send`. A crash between the append and this commit re-delivers the
   * batch (duplicates, never loss).
   * MUST: be called only while `run` is active, from inside a handler or between handler calls, and only for
   * partitions currently assigned to this member; it rejects with `RebalanceInProgressError` for a partition not
   * assigned to this member (nothing is committed then).
   * MUST: the offsets of one call are committed all together or not at all.
   * SHOULD: be called for a partition only after the records produced from the batch are durably appended.
   * Optional: a backend without group-member offset commits omits it (and cannot run at-least-once).
   */
  commitOffsets?(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /**
   * Stops delivering these partitions until `resume` names them again; a batch in flight finishes (no further
   * batch of a paused partition starts). Partitions not assigned to this member are ignored. The partitions stay
   * assigned (no rebalance, heartbeats continue). Safe to call at any time, from inside or outside a handler.
   */
  pause(tps: readonly TopicPartition[]): void;
  /**
   * Delivers these assigned partitions (again), starting at the given offsets (a seek). Safe to call at any time,
   * from inside or outside a handler (the runtime calls it from a background restore).
   * - A partition is "assigned" from the moment `onAssigned` is CALLED for it until `onRevoked` is called: a
   *   `resume` given while `onAssigned` runs is kept and applied once `onAssigned` resolved (never before: no
   *   batch is delivered before `onAssigned` resolved). Partitions not assigned are ignored (they may have been
   *   revoked meanwhile; a resume does not carry over to a later assignment of the same partition).
   * - Called again for a partition (paused or delivering), the latest call wins: the partition seeks to the new
   *   offset after the batch in flight; a batch in flight never moves the position a later `resume` chose.
   * - Works with and without `startPaused`, and after `pause`.
   * MUST: an offset below the partition's log start (records deleted before they were read) makes `run` reject
   * with `RecordsDeletedError`; it never skips ahead. An offset above the high watermark makes `run` reject with
   * `ConfigError`. (The embedded log's compaction moves the log start of compacted topics; there, only
   * non-compacted topics have the below-log-start check.) A negative or non-integer offset throws `ConfigError`
   * at once.
   */
  resume(positions: readonly TopicPartitionOffset[]): void;
}

/**
 * A log backend. MUST be safe to use from several producers/consumers in one process; SHOULD be usable by
 * several processes at once (the embedded log through SQLite locking, Kafka natively).
 */
export interface Log {
  readonly kind: 'embedded' | 'kafka';
  /** Creates topics that do not exist. Throws `TopicMismatchError` if one exists with another shape. */
  createTopics(specs: readonly TopicSpec[]): Promise<void>;
  /** Deletes topics and their committed group offsets. Unknown names are ignored. */
  deleteTopics(names: readonly string[]): Promise<void>;
  /** All topics, sorted by name. */
  listTopics(): Promise<TopicDescription[]>;
  /** One topic, or undefined if it does not exist. */
  describeTopic(name: string): Promise<TopicDescription | undefined>;
  /**
   * The partition count of each of `topics` that exists, as the cluster knows it now (Kafka: a fresh Metadata
   * request for those topics only; no topic is auto-created). A missing name is a topic that does not exist. Cheap
   * enough to call before each commit: the runtime's partition-count watch (src/runtime/partition-watch.ts) does.
   */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
  /** Low and high offsets per partition. Throws `UnknownTopicError`. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /** The group's committed offsets for a topic, partition -> offset (+ metadata); missing = none committed. */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, { offset: number; metadata?: string }>>;
  /**
   * Reads one partition (committed records only) in batches, from `fromOffset` to `toOffset`. A `fromOffset` below
   * the log start at the call starts at the log start (callers that must not lose records compare it with
   * `offsets().low` first); if the log start moves past the read's position WHILE reading (retention,
   * `deleteRecords`), the iteration throws `RecordsDeletedError`: it never skips ahead.
   */
  read(tp: TopicPartition, opts?: ReadOptions): AsyncIterable<LogRecord[]>;
  /**
   * Commits offsets for a group that has no active member (Kafka's OffsetCommit with generation -1, as the admin
   * tool does; metadata kept): the at-least-once commit of a topology version whose records are read by another
   * group's member (shared read), and resets (`eddy replay --reset`). MUST: all offsets of one call commit together.
   * Throws `RebalanceInProgressError` if the group has active members.
   */
  commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /**
   * Deletes the records of a partition below `beforeOffset` (Kafka's DeleteRecords): the log start (`low`) moves
   * there. Used to purge repartition topics once their records are committed downstream. An offset above the high
   * watermark throws `ConfigError`; one at or below `low` does nothing.
   */
  deleteRecords(tp: TopicPartition, beforeOffset: number): Promise<void>;
  /**
   * Deletes consumer groups and their committed offsets (retire). Unknown groups are ignored. Throws
   * `RebalanceInProgressError` for a group that has active members (Kafka's NON_EMPTY_GROUP).
   */
  deleteGroups(groupIds: readonly string[]): Promise<void>;
  /**
   * Per partition, the first offset whose record timestamp is >= `timestampMs` (Kafka's ListOffsets by
   * timestamp), or the high watermark when there is none. For `eddy replay --from <time>`. Throws `UnknownTopicError`.
   */
  offsetsForTime(topic: string, timestampMs: number): Promise<Map<number, number>>;
  /** Compacts a compacted topic now (Kafka does this in the background; tests and `eddy topics` use it). */
  compact(topic: string): Promise<void>;
  producer(opts?: { transactionalId?: string }): Producer;
  consumer(opts: ConsumerOptions): Consumer;
  /** Closes everything. Safe to call twice. */
  close(): Promise<void>;
}

/** `${topic}:${partition}`, the key used in `AppendResult.offsets` and other maps. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}
