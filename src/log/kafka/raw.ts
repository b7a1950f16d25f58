/**
 * Direct requests to the cluster (metadata, ListOffsets, Fetch, OffsetFetch) on one kafkajs cluster client
 * (see `internals.ts` for why). Metadata is always requested for ALL topics: kafkajs' per-topic metadata
 * tracking breaks for good once a tracked topic is deleted.
 */
import type { Kafka } from 'kafkajs';
import { UnknownPartitionError, UnknownTopicError } from '../../errors.js';
import { hasErrorType, isRetriable, toEddyError } from './client.js';
import {
  createRawCluster,
  type RawBroker,
  type RawCluster,
  type RawPartitionData,
  type RawTopicMetadata,
  READ_COMMITTED,
} from './internals.js';

/** ListOffsets timestamps: the earliest (log start) and latest (end) offset. */
export const EARLIEST = -2;
export const LATEST = -1;

/** Errors after which fresh metadata (a moved leader, a recreated topic) may help. */
const STALE = [
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
];

/** OffsetCommit answers meaning the group has members (a non-member may not commit). */
export const GROUP_BUSY = ['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS'];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Metadata of one topic: its partition count. */
export interface TopicMeta {
  readonly name: string;
  readonly partitions: number;
  readonly internal: boolean;
}

/** One cluster connection for metadata, offsets and direct fetches. Connects lazily. */
export class RawClient {
  private readonly cluster: RawCluster;
  private connecting: Promise<void> | undefined;
  private metaAt = 0;

  /** A raw client with `kafka`'s settings; connects on first use. */
  constructor(kafka: Kafka) {
    this.cluster = createRawCluster(kafka, READ_COMMITTED);
  }

  /** Fresh metadata of all topics (internal ones included), by name. */
  async topics(maxAgeMs = 0): Promise<Map<string, TopicMeta>> {
    await this.connect();
    if (maxAgeMs <= 0 || Date.now() - this.metaAt > maxAgeMs || this.cluster.brokerPool.metadata === undefined) {
      await this.retry('metadata', async () => {
        await this.cluster.refreshMetadata();
      });
      this.metaAt = Date.now();
    }
    const out = new Map<string, TopicMeta>();
    for (const t of this.cluster.brokerPool.metadata?.topicMetadata ?? []) out.set(t.topic, describeMeta(t));
    return out;
  }

  /** The partition count of a topic, or undefined. Uses metadata up to `maxAgeMs` old, refreshing on a miss. */
  async partitionsOf(topic: string, maxAgeMs = 0): Promise<number | undefined> {
    const cached = (await this.topics(maxAgeMs)).get(topic);
    if (cached !== undefined || maxAgeMs <= 0) return cached?.partitions;
    return (await this.topics(0)).get(topic)?.partitions;
  }

  /**
   * Partition counts of the existing topics among `topics`: one Metadata request for those topics (never
   * auto-creating them); when one of them does not exist (the broker answers UNKNOWN_TOPIC_OR_PARTITION), from
   * fresh metadata of all topics instead.
   */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    await this.connect();
    const out = new Map<string, number>();
    if (topics.length === 0) return out;
    try {
      // kafkajs' types omit the `topics` argument of Cluster.metadata (kafkajs 2.2.4 src/cluster/index.js has it)
      const metadata = this.cluster.metadata as unknown as (o: {
        topics: string[];
      }) => Promise<{ topicMetadata: RawTopicMetadata[] }>;
      const res = await metadata.call(this.cluster, { topics: [...topics] });
      for (const t of res.topicMetadata) if (t.topicErrorCode === 0) out.set(t.topic, t.partitionMetadata.length);
      return out;
    } catch {
      const all = await this.topics(0);
      for (const name of topics) {
        const t = all.get(name);
        if (t !== undefined) out.set(name, t.partitions);
      }
      return out;
    }
  }

  /** Throws `UnknownTopicError`/`UnknownPartitionError` unless the partition exists (metadata <= maxAgeMs old). */
  async requirePartition(topic: string, partition: number, maxAgeMs = 0): Promise<number> {
    let count = await this.partitionsOf(topic, maxAgeMs);
    if (count !== undefined && !(partition < count) && maxAgeMs > 0) count = await this.partitionsOf(topic, 0);
    if (count === undefined) throw new UnknownTopicError(topic);
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new UnknownPartitionError(topic, partition, count);
    }
    return count;
  }

  /**
   * ListOffsets for partitions of one topic: `EARLIEST` (log start) or `LATEST`, which is the high watermark
   * with `READ_UNCOMMITTED` and the last stable offset (LSO, the end of committed data) with `READ_COMMITTED`.
   */
  async listOffsets(
    topic: string,
    partitions: readonly number[],
    timestamp: number,
    isolationLevel: number,
  ): Promise<Map<number, number>> {
    return this.retry('list offsets', async () => {
      const byLeader = this.cluster.findLeaderForPartitions(topic, [...partitions]);
      const out = new Map<number, number>();
      await Promise.all(
        Object.entries(byLeader).map(async ([nodeId, ps]) => {
          const broker = (await this.cluster.findBroker({ nodeId })) as RawBroker;
          const { responses } = await broker.listOffsets({
            isolationLevel,
            topics: [{ topic, partitions: ps.map((partition) => ({ partition, timestamp })) }],
          });
          for (const r of responses) for (const p of r.partitions) out.set(p.partition, Number(p.offset));
        }),
      );
      for (const p of partitions)
        if (!out.has(p)) throw Object.assign(new Error('no leader'), { type: 'LEADER_NOT_AVAILABLE' });
      return out;
    });
  }

  /** One read_committed Fetch of one partition from its leader. Throws kafkajs errors (e.g. offset out of range). */
  async fetch(
    topic: string,
    partition: number,
    offset: number,
    maxBytes: number,
    maxWaitMs: number,
  ): Promise<RawPartitionData> {
    return this.retry(
      'fetch',
      async () => {
        const byLeader = this.cluster.findLeaderForPartitions(topic, [partition]);
        const nodeId = Object.keys(byLeader)[0];
        if (nodeId === undefined) throw Object.assign(new Error('no leader'), { type: 'LEADER_NOT_AVAILABLE' });
        const broker = (await this.cluster.findBroker({ nodeId })) as RawBroker;
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED,
          maxWaitTime: maxWaitMs,
          minBytes: 1,
          maxBytes,
          topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes }] }],
        });
        const data = (responses as { partitions: RawPartitionData[] }[])[0]?.partitions[0];
        if (data === undefined) throw Object.assign(new Error('empty fetch response'), { retriable: true });
        return data;
      },
      (err) => !hasErrorType(err, 'OFFSET_OUT_OF_RANGE'),
    );
  }

  /** A group's committed offsets (with metadata) for partitions of a topic; `-1` = none committed. */
  async committed(
    groupId: string,
    topic: string,
    partitions: readonly number[],
  ): Promise<Map<number, { offset: number; metadata: string | null }>> {
    return this.retry('fetch committed offsets', async () => {
      const coordinator = (await this.cluster.findGroupCoordinator({ groupId })) as RawBroker;
      const { responses } = await coordinator.offsetFetch({
        groupId,
        topics: [{ topic, partitions: partitions.map((partition) => ({ partition })) }],
      });
      const out = new Map<number, { offset: number; metadata: string | null }>();
      for (const r of responses) {
        for (const p of r.partitions) out.set(p.partition, { offset: Number(p.offset), metadata: p.metadata });
      }
      return out;
    });
  }

  /**
   * Commits offsets (with metadata) for a group as a non-member (OffsetCommit with generation -1 and an empty
   * member id, as Kafka's admin tools do), in one request to the group coordinator. The coordinator accepts it
   * only while the group has no members; else it answers `UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION` or
   * `REBALANCE_IN_PROGRESS`, thrown (as a `KafkaError` with that type) without retrying.
   */
  async commitAsNonMember(
    groupId: string,
    offsets: readonly { topic: string; partition: number; offset: number; metadata?: string }[],
  ): Promise<void> {
    const byTopic = new Map<string, { partition: number; offset: string; metadata: string | null }[]>();
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? [];
      byTopic.set(o.topic, list);
      list.push({ partition: o.partition, offset: String(o.offset), metadata: o.metadata ?? null });
    }
    await this.retry(
      'commit offsets',
      async () => {
        const coordinator = (await this.cluster.findGroupCoordinator({ groupId })) as RawBroker;
        await coordinator.offsetCommit({
          groupId,
          groupGenerationId: -1,
          memberId: '',
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
      },
      (err) => !hasErrorType(err, ...GROUP_BUSY),
    );
  }

  /**
   * DeleteRecords of one partition below `beforeOffset`, sent to its leader: the log start moves there. Throws
   * kafkajs errors (e.g. `OFFSET_OUT_OF_RANGE` above the high watermark) as eddy errors.
   */
  async deleteRecords(topic: string, partition: number, beforeOffset: number): Promise<void> {
    await this.retry('delete records', async () => {
      const byLeader = this.cluster.findLeaderForPartitions(topic, [partition]);
      const nodeId = Object.keys(byLeader)[0];
      if (nodeId === undefined) throw Object.assign(new Error('no leader'), { type: 'LEADER_NOT_AVAILABLE' });
      const broker = (await this.cluster.findBroker({ nodeId })) as RawBroker;
      await broker.deleteRecords({ topics: [{ topic, partitions: [{ partition, offset: beforeOffset }] }] });
    });
  }

  /**
   * ListOffsets by timestamp for partitions of one topic: per partition the first offset whose timestamp is >=
   * `timestampMs`, or -1 when there is none.
   */
  async offsetsForTimestamp(
    topic: string,
    partitions: readonly number[],
    timestampMs: number,
  ): Promise<Map<number, number>> {
    return this.listOffsets(topic, partitions, timestampMs, READ_COMMITTED);
  }

  /** Closes the connections. The client reconnects if used again. */
  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    if (connecting === undefined) return;
    await connecting.catch(() => undefined);
    await this.cluster.disconnect().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    this.connecting ??= this.cluster.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw toEddyError(err, 'connect');
    });
    await this.connecting;
  }

  /**
   * Runs `fn` up to 8 times: after stale-metadata errors it refreshes metadata first, after other retriable
   * errors it waits (100 ms doubling to 2 s). Errors are thrown as eddy errors (`KafkaError`, the kafkajs
   * error as its cause).
   */
  private async retry<T>(
    op: string,
    fn: () => Promise<T>,
    mayRetry: (err: unknown) => boolean = () => true,
  ): Promise<T> {
    await this.connect();
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const stale = hasErrorType(err, ...STALE) || (err as { name?: string }).name === 'KafkaJSBrokerNotFound';
        if (attempt >= 8 || !mayRetry(err) || !(stale || isRetriable(err))) throw toEddyError(err, op);
        await sleep(delay);
        delay = Math.min(delay * 2, 2_000);
        if (stale) {
          await this.cluster.refreshMetadata().catch(() => undefined);
          this.metaAt = Date.now();
        }
        if (!this.cluster.isConnected()) await this.cluster.connect().catch(() => undefined);
      }
    }
  }
}

function describeMeta(t: RawTopicMetadata): TopicMeta {
  return {
    name: t.topic,
    partitions: t.partitionMetadata.length,
    internal: t.isInternal === true || t.topic.startsWith('__'),
  };
}
