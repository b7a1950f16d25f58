/**
 * Helpers of the Kafka producer: validating records, splitting them into produce requests, deriving their
 * offsets from the produce responses, retrying transaction requests the coordinator asks to retry, and
 * waiting until a committed transaction is visible.
 */
import type { ProducerRecord, TopicPartitionOffset } from '../contract.js';
import { tpKey } from '../contract.js';
import { entry, hasErrorType } from './client.js';
import { READ_COMMITTED } from './internals.js';
import { LATEST, type RawClient } from './raw.js';

/** Per-partition bytes per produce request (the broker's default `message.max.bytes` is ~1 MB per batch). */
const MAX_PARTITION_BATCH_BYTES = 900_000;
/**
 * Records per partition per produce request: kafkajs groups a request's messages by partition in quadratic
 * time (`groupMessagesPerPartition` copies the array per message), which dominates beyond ~1,000.
 */
const MAX_PARTITION_BATCH_RECORDS = 1_000;
/** Bytes per produce request. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** Bytes a record batch adds around its records (its header is 61 bytes), kept free under a topic's limit. */
const BATCH_HEADER_BYTES = 100;
/** Age of cached metadata used to validate topics and partitions before sending. */
export const METADATA_MAX_AGE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Throws `UnknownTopicError`/`UnknownPartitionError` for the first record naming a missing partition. */
export async function validateRecords(raw: RawClient, records: readonly ProducerRecord[]): Promise<void> {
  const checked = new Set<string>();
  for (const r of records) {
    const key = tpKey(r.topic, r.partition);
    if (checked.has(key)) continue;
    await raw.requirePartition(r.topic, r.partition, METADATA_MAX_AGE_MS);
    checked.add(key);
  }
}

/** kafkajs' `topicMessages` of `sendBatch`. */
export type TopicMessages = {
  topic: string;
  messages: {
    partition: number;
    key: Buffer | null;
    value: Buffer | null;
    timestamp: string;
    headers?: Record<string, Buffer>;
  }[];
}[];
/** A kafkajs `sendBatch` (of a producer or a transaction) with the messages filled in. */
export type SendBatch = (
  topicMessages: TopicMessages,
) => Promise<{ topicName: string; partition: number; baseOffset?: string }[]>;

/**
 * The largest record batch a topic accepts (`max.message.bytes`), bytes; undefined = the broker's default. A
 * topic's limit may be far below the ~1 MB default (a dead-letter topic set small on purpose), and the broker
 * refuses a whole batch over it, failing the transaction, even when each record alone fits.
 */
export type MaxBatchBytes = (topic: string) => Promise<number | undefined>;

/**
 * Sends records chunk by chunk (each partition's part of a chunk is one batch, kept under the topic's
 * `max.message.bytes` when `maxBatchBytes` knows it) and collects their offsets.
 */
export async function produce(
  records: readonly ProducerRecord[],
  sendBatch: SendBatch,
  maxBatchBytes?: MaxBatchBytes,
): Promise<Map<string, number[]>> {
  const offsets = new Map<string, number[]>();
  const limits = new Map<string, number>();
  for (const topic of new Set(records.map((r) => r.topic))) {
    const limit = await maxBatchBytes?.(topic);
    if (limit !== undefined) limits.set(topic, Math.max(1, limit - BATCH_HEADER_BYTES));
  }
  for (const chunk of chunkRecords(records, limits)) {
    const byTopic = new Map<string, TopicMessages[number]['messages']>();
    for (const [, rs] of chunk) {
      for (const r of rs) {
        entry(byTopic, r.topic, () => []).push({
          partition: r.partition,
          key: r.key,
          value: r.value,
          timestamp: String(r.timestamp),
          ...(r.headers === undefined ? {} : { headers: r.headers }),
        });
      }
    }
    const meta = await sendBatch([...byTopic].map(([topic, messages]) => ({ topic, messages })));
    for (const [key, rs] of chunk) {
      const r0 = rs[0];
      const m = meta.find((x) => x.topicName === r0.topic && x.partition === r0.partition);
      if (m?.baseOffset === undefined) throw new Error(`no produce response for ${key}`);
      const base = Number(m.baseOffset);
      const list = entry(offsets, key, () => []);
      for (let i = 0; i < rs.length; i++) list.push(base + i);
    }
  }
  return offsets;
}

/**
 * Splits records, in order, into chunks of at most 1,000 records / ~900 KB (or the topic's `limits` entry, bytes)
 * per partition and 8 MB in all. A record larger than its limit goes alone (the broker refuses it; callers that
 * must not fail check sizes first).
 */
function chunkRecords(
  records: readonly ProducerRecord[],
  limits: ReadonlyMap<string, number>,
): Map<string, ProducerRecord[]>[] {
  const chunks: Map<string, ProducerRecord[]>[] = [];
  let chunk = new Map<string, ProducerRecord[]>();
  let tpBytes = new Map<string, number>();
  let total = 0;
  for (const r of records) {
    const key = tpKey(r.topic, r.partition);
    const size = recordSize(r);
    const inTp = tpBytes.get(key) ?? 0;
    const full = (chunk.get(key)?.length ?? 0) >= MAX_PARTITION_BATCH_RECORDS;
    if (
      full ||
      (inTp > 0 &&
        inTp + size > Math.min(MAX_PARTITION_BATCH_BYTES, limits.get(r.topic) ?? MAX_PARTITION_BATCH_BYTES)) ||
      (total > 0 && total + size > MAX_REQUEST_BYTES)
    ) {
      chunks.push(chunk);
      chunk = new Map();
      tpBytes = new Map();
      total = 0;
    }
    entry(chunk, key, () => []).push(r);
    tpBytes.set(key, (tpBytes.get(key) ?? 0) + size);
    total += size;
  }
  if (chunk.size > 0) chunks.push(chunk);
  return chunks;
}

/** An upper estimate of a record's size in a record batch, in bytes (framing varints take up to 36). */
function recordSize(r: ProducerRecord): number {
  let size = 40 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (r.headers !== undefined)
    for (const [k, v] of Object.entries(r.headers)) size += 10 + Buffer.byteLength(k) + v.length;
  return size;
}

/** Offsets for kafkajs' `sendOffsets`, grouped by topic, with metadata. */
export function offsetTopics(offsets: readonly TopicPartitionOffset[]) {
  const byTopic = new Map<string, { partition: number; offset: string; metadata: string | null }[]>();
  for (const o of offsets) {
    entry(byTopic, o.topic, () => []).push({
      partition: o.partition,
      offset: String(o.offset),
      metadata: o.metadata ?? null,
    });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** Errors the transaction coordinator wants retried (e.g. the previous transaction's markers are still being written). */
const RETRY_TXN = [
  'CONCURRENT_TRANSACTIONS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
];

/**
 * Runs a transaction request, retrying (20 ms doubling to 1 s, 12 attempts) while the coordinator answers
 * with a retriable transaction error; kafkajs' `sendOffsets` does not retry its AddOffsetsToTxn.
 */
export async function retryTxn<T>(fn: () => Promise<T>): Promise<T> {
  let delay = 20;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 12 || !hasErrorType(err, ...RETRY_TXN)) throw err;
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
    }
  }
}

/**
 * Waits (up to `timeoutMs`) until a committed transaction is visible: its commit markers are written, so the
 * last stable offset of every partition written is past the transaction's last record, and the committed
 * group offsets read back as sent. EndTxn returns before the coordinator has written the markers.
 */
export async function awaitVisible(
  raw: RawClient,
  written: ReadonlyMap<string, readonly number[]>,
  offsets: ReadonlyMap<string, ReadonlyMap<string, TopicPartitionOffset>>,
  timeoutMs: number,
): Promise<void> {
  const lastOf = new Map<string, Map<number, number>>(); // topic -> partition -> last offset written
  for (const [key, list] of written) {
    if (list.length === 0) continue;
    const at = key.lastIndexOf(':');
    entry(lastOf, key.slice(0, at), () => new Map()).set(Number(key.slice(at + 1)), list[list.length - 1]);
  }
  const sent = new Map<string, Map<string, Map<number, number>>>(); // group -> topic -> partition -> offset
  for (const [groupId, tpos] of offsets) {
    for (const o of tpos.values())
      entry(
        entry(sent, groupId, () => new Map()),
        o.topic,
        () => new Map(),
      ).set(o.partition, o.offset);
  }
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    for (const [topic, parts] of lastOf) {
      const lso = await raw.listOffsets(topic, [...parts.keys()], LATEST, READ_COMMITTED);
      for (const [p, last] of parts) if (lso.get(p)! > last) parts.delete(p);
      if (parts.size === 0) lastOf.delete(topic);
    }
    for (const [groupId, topics] of sent) {
      for (const [topic, parts] of topics) {
        const committed = await raw.committed(groupId, topic, [...parts.keys()]);
        for (const [p, offset] of parts) if (committed.get(p)?.offset === offset) parts.delete(p);
        if (parts.size === 0) topics.delete(topic);
      }
      if (topics.size === 0) sent.delete(groupId);
    }
    if ((lastOf.size === 0 && sent.size === 0) || Date.now() > deadline) return;
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}
