/**
 * What the Kafka backend takes from kafkajs' internals (kafkajs 2.2.4, pinned in package.json), kept in one
 * place. Two things are needed that kafkajs does not offer publicly:
 *
 * 1. A "raw" cluster client for `Log.read` and offset queries: direct Fetch, ListOffsets and OffsetFetch
 *    requests to partition leaders. kafkajs has no `assign()`; a consumer with a throwaway group would
 *    pay a group join per read (`group.initial.rebalance.delay.ms`, 3 s by default) and hides its
 *    position, which `read` needs to end exactly at the end offset across transaction markers.
 * 2. A fix of kafkajs' aborted-transaction filter (`src/consumer/filterAbortedMessages.js`): it takes at
 *    most one aborted transaction per record and assumes the broker's list is ordered by first offset,
 *    which it is not (the broker lists them in the order they were aborted). With interleaved aborted
 *    transactions, or a fetch starting inside an aborted transaction, aborted records leak to
 *    `read_committed` consumers. The patch filters read_committed Fetch responses the way the Java client
 *    does and marks aborted records as control records, so kafkajs skips them but still counts their
 *    offsets (the consumer position moves past them).
 */
import { createRequire } from 'node:module';
import type { Broker, Cluster, Kafka } from 'kafkajs';

const require = createRequire(import.meta.url);

/** kafkajs' isolation levels. */
export const READ_UNCOMMITTED = 0;
export const READ_COMMITTED = 1;

/** A record as kafkajs decodes it from a Fetch response (offsets and timestamps are decimal strings). */
export interface RawMessage {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[] | null | undefined>;
  isControlRecord: boolean;
  batchContext: {
    firstOffset: string;
    lastOffsetDelta: number;
    producerId: string;
    inTransaction: boolean;
    isControlBatch: boolean;
  };
  /** Set by the read_committed filter below on records of aborted transactions. */
  eddyAborted?: boolean;
}

/** One partition of a Fetch response. */
export interface RawPartitionData {
  partition: number;
  errorCode: number;
  highWatermark: string;
  lastStableOffset?: string;
  abortedTransactions?: { producerId: string; firstOffset: string }[];
  messages: RawMessage[];
}

/** A kafkajs cluster object with the members used here (typed loosely by kafkajs). */
export interface RawCluster extends Cluster {
  brokerPool: { metadata?: { topicMetadata: RawTopicMetadata[] } };
}

/** Topic metadata as kafkajs decodes it. */
export interface RawTopicMetadata {
  topic: string;
  isInternal?: boolean;
  topicErrorCode: number;
  partitionMetadata: { partitionId: number; leader: number }[];
}

/** A kafkajs broker connection with the requests used here. */
export interface RawBroker extends Broker {
  listOffsets(request: {
    isolationLevel: number;
    topics: { topic: string; partitions: { partition: number; timestamp: number }[] }[];
  }): Promise<{ responses: { topic: string; partitions: { partition: number; offset: string }[] }[] }>;
  offsetFetch(request: { groupId: string; topics: { topic: string; partitions: { partition: number }[] }[] }): Promise<{
    responses: { topic: string; partitions: { partition: number; offset: string; metadata: string | null }[] }[];
  }>;
  deleteRecords(request: {
    topics: { topic: string; partitions: { partition: number; offset: number }[] }[];
  }): Promise<unknown>;
}

/**
 * A new kafkajs cluster client with the Kafka client's settings (brokers, TLS, SASL, logger, retry),
 * through the client's private factory. Throws if kafkajs changed shape (upgrade with care).
 */
export function createRawCluster(kafka: Kafka, isolationLevel: number): RawCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (symbol === undefined) {
    throw new Error('kafkajs internals changed: Kafka has no private createCluster (eddy needs kafkajs 2.2.x)');
  }
  const factory = (kafka as unknown as Record<symbol, (o: object) => RawCluster>)[symbol];
  return factory.call(kafka, { isolationLevel, allowAutoTopicCreation: false, metadataMaxAge: 300_000 });
}

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);
const PATCHED = Symbol.for('eddy.kafkajs.readCommittedFilter');

/**
 * Marks records of aborted transactions (`eddyAborted`, and `isControlRecord` so kafkajs skips them), the
 * Java client's way: aborted transactions ordered by first offset, all of those starting at or before a
 * record taken into the aborted set, a producer leaving it at its abort marker.
 */
export function markAbortedRecords(
  messages: RawMessage[],
  aborted: readonly { producerId: string; firstOffset: string }[] | undefined,
): void {
  if (aborted === undefined || aborted.length === 0) return;
  const queue = aborted
    .map((a) => ({ pid: a.producerId, first: Number(a.firstOffset) }))
    .sort((a, b) => a.first - b.first);
  const open = new Set<string>();
  let next = 0;
  for (const m of messages) {
    const offset = Number(m.offset);
    while (next < queue.length && queue[next].first <= offset) open.add(queue[next++].pid);
    const ctx = m.batchContext;
    if (m.isControlRecord) {
      if (m.key !== null && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) open.delete(ctx.producerId);
      continue;
    }
    if (ctx.inTransaction && open.has(ctx.producerId)) {
      m.isControlRecord = true;
      m.eddyAborted = true;
    }
  }
}

/** Installs the read_committed filter fix on kafkajs' Broker (once per process; see the file comment). */
export function installReadCommittedFilter(): void {
  const BrokerClass = require('kafkajs/src/broker/index.js') as { prototype: Record<string | symbol, unknown> };
  const proto = BrokerClass.prototype;
  if (proto[PATCHED] === true) return;
  const original = proto.fetch as (
    this: unknown,
    request: { isolationLevel?: number },
  ) => Promise<{
    responses: { topicName: string; partitions: RawPartitionData[] }[];
  }>;
  proto.fetch = async function fetchReadCommitted(this: unknown, request: { isolationLevel?: number }) {
    const response = await original.call(this, request);
    if (request.isolationLevel === READ_COMMITTED) {
      for (const topic of response.responses) {
        for (const p of topic.partitions) {
          markAbortedRecords(p.messages, p.abortedTransactions);
          p.abortedTransactions = [];
        }
      }
    }
    return response;
  };
  proto[PATCHED] = true;
}
