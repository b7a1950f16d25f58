/**
 * The Kafka log: eddy's `Log` on Apache Kafka through kafkajs 2.2.4.
 *
 * Exactly-once follows KIP-98 (transactions): a transactional producer per eddy task writes outputs,
 * changelog records and consumed offsets (`sendOffsets`) in one transaction; consumers read
 * `read_committed`. kafkajs has no KIP-447, so zombies are fenced by transactional id (one per task), not
 * by consumer group generation. See `producer.ts`, `consumer.ts`, `reader.ts` and `internals.ts` for the
 * kafkajs limitations this backend works around.
 */

import type { Kafka } from 'kafkajs';
import { ConfigError, InvalidStateError, RebalanceInProgressError, UnknownTopicError } from '../../errors.js';
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
import { checkCommitOffsets, checkConsumerOptions, checkDeleteRecordsOffset } from '../validate.js';
import { KafkaTopics } from './admin.js';
import {
  createKafka,
  hasErrorType,
  type KafkaLogLine,
  type KafkaLogOptions,
  type KafkaLogSink,
  stderrKafkaLogSink,
} from './client.js';
import { KafkaConsumer, type KafkaConsumerTimings } from './consumer.js';
import { installReadCommittedFilter } from './internals.js';
import { KafkaProducer, KafkaTransaction, SharedProducer } from './producer.js';
import { GROUP_BUSY, RawClient } from './raw.js';
import { readPartition } from './reader.js';

export { ASSIGNER_NAME, eddyAssigner, stickyAssign } from './assigner.js';
export { markAbortedRecords } from './internals.js';
export type { KafkaConsumerTimings, KafkaLogLine, KafkaLogOptions, KafkaLogSink };
export { KafkaConsumer, KafkaProducer, KafkaTransaction, stderrKafkaLogSink };

/**
 * A `Log` on a Kafka cluster. Creating it connects nothing; connections open on first use and `close()`
 * ends them all (running consumers stop and leave their groups, producers disconnect).
 *
 * Kafka specifics: `offsets().high` is the high watermark (it counts transaction markers and records of
 * open transactions); `read` ends at the last stable offset; `compact` is a no-op (the broker's log
 * cleaner compacts in the background, only rolled segments, after `min.compaction.lag.ms`).
 *
 * Errors: `UnknownTopicError`, `UnknownPartitionError`, `TopicMismatchError`, `ProducerFencedError`,
 * `ConfigError` (invalid options, topic specs, read options), `InvalidStateError` (used after `close`),
 * `KafkaError` (broker or network failure; `retriable` tells whether trying again may help).
 */
export class KafkaLog implements Log {
  readonly kind = 'kafka' as const;
  /** The kafkajs client (for tools that need more than the contract). */
  readonly kafka: Kafka;
  private readonly raw: RawClient;
  private readonly topics: KafkaTopics;
  private readonly idempotent: SharedProducer;
  private readonly timings: KafkaConsumerTimings;
  private readonly transactionTimeoutMs: number;
  private readonly producers = new Set<KafkaProducer>();
  /** `max.message.bytes` per topic, described on first send (see `maxBatchBytes`). */
  private readonly maxBytesByTopic = new Map<string, Promise<number | undefined>>();
  private readonly consumers = new Set<KafkaConsumer>();
  private closing: Promise<void> | undefined;

  /** Throws `ConfigError` for no brokers or inconsistent timings. Connects lazily. */
  constructor(opts: KafkaLogOptions) {
    if (!Array.isArray(opts.brokers) || opts.brokers.length === 0) {
      throw new ConfigError('The Kafka log needs at least one broker (host:port).');
    }
    const sessionTimeoutMs = opts.sessionTimeoutMs ?? 30_000;
    const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 3_000;
    if (!(heartbeatIntervalMs > 0 && heartbeatIntervalMs < sessionTimeoutMs)) {
      throw new ConfigError(
        `heartbeatIntervalMs (${heartbeatIntervalMs}) must be > 0 and below sessionTimeoutMs (${sessionTimeoutMs}); about a third of it is usual.`,
        { sessionTimeoutMs, heartbeatIntervalMs },
      );
    }
    const replicationFactor = opts.replicationFactor ?? 1;
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      throw new ConfigError(`replicationFactor must be an integer >= 1, got ${replicationFactor}.`);
    }
    installReadCommittedFilter();
    this.kafka = createKafka(opts);
    this.raw = new RawClient(this.kafka);
    this.topics = new KafkaTopics(this.kafka, this.raw, replicationFactor);
    this.idempotent = new SharedProducer(this.kafka);
    this.transactionTimeoutMs = opts.transactionTimeoutMs ?? 60_000;
    this.timings = { sessionTimeoutMs, heartbeatIntervalMs, idleCheckMs: 250, maxWaitMs: 250 };
  }

  /** See `Log.createTopics`; `config` is passed to the broker but not compared for existing topics. */
  async createTopics(specs: readonly TopicSpec[]): Promise<void> {
    this.assertOpen();
    for (const s of specs) this.maxBytesByTopic.delete(s.name);
    await this.topics.createTopics(specs);
  }

  /** Deletes topics (the broker drops their committed group offsets). Unknown names are ignored. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    this.assertOpen();
    for (const n of names) this.maxBytesByTopic.delete(n);
    await this.topics.deleteTopics(names);
  }

  /** All non-internal topics, sorted by name. */
  async listTopics(): Promise<TopicDescription[]> {
    this.assertOpen();
    return this.topics.listTopics();
  }

  /** One topic (partitions from metadata, compacted from `cleanup.policy`), or undefined. */
  async describeTopic(name: string): Promise<TopicDescription | undefined> {
    this.assertOpen();
    return this.topics.describeTopic(name);
  }

  /** Partition counts of the existing topics among `topics`, from a fresh Metadata request for them. */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    this.assertOpen();
    return this.raw.partitionCounts(topics);
  }

  /** Log start offset and high watermark per partition. Throws `UnknownTopicError`. */
  async offsets(topic: string): Promise<PartitionOffsets[]> {
    this.assertOpen();
    return this.topics.offsets(topic);
  }

  /** Committed offsets with their metadata (OffsetFetch). Throws `UnknownTopicError`. */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, { offset: number; metadata?: string }>> {
    this.assertOpen();
    return this.topics.committedOffsets(groupId, topic);
  }

  /** See `readPartition` in `reader.ts`: committed records, ends at `toOffset` or the last stable offset. */
  read(tp: TopicPartition, opts: ReadOptions = {}): AsyncIterable<LogRecord[]> {
    this.assertOpen();
    return readPartition(this.raw, tp, opts);
  }

  /**
   * Commits offsets (with metadata) for a group with no member: one OffsetCommit with generation -1 and an empty
   * member id. Throws `RebalanceInProgressError` (nothing committed) if the group has members, `ConfigError` for a
   * bad offset, `UnknownTopicError`, `KafkaError`.
   */
  async commitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.assertOpen();
    checkCommitOffsets(groupId, offsets);
    if (offsets.length === 0) return;
    const known = await this.raw.topics();
    for (const o of offsets) if (!known.has(o.topic)) throw new UnknownTopicError(o.topic);
    try {
      await this.raw.commitAsNonMember(groupId, offsets);
    } catch (err) {
      if (hasErrorType(err, ...GROUP_BUSY)) {
        throw new RebalanceInProgressError(
          groupId,
          'cannot commit offsets as a non-member: the group has active members',
        );
      }
      throw err;
    }
  }

  /** See `Log.deleteRecords` (Kafka's DeleteRecords). */
  async deleteRecords(tp: TopicPartition, beforeOffset: number): Promise<void> {
    this.assertOpen();
    checkDeleteRecordsOffset(tp.topic, tp.partition, beforeOffset);
    await this.topics.deleteRecords(tp.topic, tp.partition, beforeOffset);
  }

  /** See `Log.deleteGroups` (Kafka's DeleteGroups); a group with members throws `RebalanceInProgressError`. */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.topics.deleteGroups(groupIds);
  }

  /** See `Log.offsetsForTime` (ListOffsets by timestamp; the high watermark where no record is that late). */
  async offsetsForTime(topic: string, timestampMs: number): Promise<Map<number, number>> {
    this.assertOpen();
    const count = await this.raw.partitionsOf(topic);
    if (count === undefined) throw new UnknownTopicError(topic);
    const partitions = Array.from({ length: count }, (_, i) => i);
    const found = await this.raw.offsetsForTimestamp(topic, partitions, timestampMs);
    const highs = await this.topics.offsets(topic);
    const out = new Map<number, number>();
    for (const p of partitions) {
      const o = found.get(p) ?? -1;
      out.set(p, o >= 0 ? o : highs[p].high);
    }
    return out;
  }

  /**
   * A no-op on Kafka apart from checking the topic exists (`UnknownTopicError`): the broker's log cleaner
   * compacts compacted topics in the background, only in rolled segments. Readers must expect
   * superseded records and tombstones of compacted topics.
   */
  async compact(topic: string): Promise<void> {
    this.assertOpen();
    if ((await this.raw.partitionsOf(topic)) === undefined) throw new UnknownTopicError(topic);
  }

  /**
   * A topic's `max.message.bytes` (bytes), described once per topic and cached for the log's life (a topic's
   * limit changed later is not seen until a new log). A failed describe is not cached and means "no limit known".
   */
  private maxBatchBytes(topic: string): Promise<number | undefined> {
    let p = this.maxBytesByTopic.get(topic);
    if (p === undefined) {
      p = this.topics.describeTopic(topic).then(
        (d) => {
          if (d === undefined) this.maxBytesByTopic.delete(topic);
          return d?.maxMessageBytes;
        },
        () => {
          this.maxBytesByTopic.delete(topic);
          return undefined;
        },
      );
      this.maxBytesByTopic.set(topic, p);
    }
    return p;
  }

  /** A producer (see `KafkaProducer`). Throws `InvalidStateError` after `close`. */
  producer(opts: { transactionalId?: string } = {}): Producer {
    this.assertOpen();
    if (opts.transactionalId !== undefined && opts.transactionalId.length === 0) {
      throw new ConfigError('A transactionalId must not be empty.');
    }
    const ctx = {
      kafka: this.kafka,
      raw: this.raw,
      transactionTimeoutMs: this.transactionTimeoutMs,
      idempotent: this.idempotent,
      maxBatchBytes: (topic: string) => this.maxBatchBytes(topic),
    };
    const p = new KafkaProducer(ctx, opts.transactionalId, (closed) => this.producers.delete(closed));
    this.producers.add(p);
    return p;
  }

  /**
   * A consumer-group member (see `KafkaConsumer`). Throws `ConfigError` for an empty group id, no topics
   * or a bad `maxBatchRecords`; `InvalidStateError` after `close`.
   */
  consumer(opts: ConsumerOptions): Consumer {
    this.assertOpen();
    checkConsumerOptions(opts);
    const c = new KafkaConsumer(this.kafka, this.raw, opts, this.timings, (done) => this.consumers.delete(done));
    this.consumers.add(c);
    return c;
  }

  /** Stops running consumers, closes producers and all connections. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await Promise.all([...this.producers].map((p) => p.close()));
    await this.idempotent.close();
    await this.topics.close();
    await this.raw.close();
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw new InvalidStateError('This Kafka log is closed.');
  }
}
