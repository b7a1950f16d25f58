import type { Headers } from '../log/contract.js';
import type { Origin } from '../processors/context.js';

/** Options of `TopologyTestDriver.create`. */
export interface TestDriverOptions {
  /**
   * Partition counts of the input topics (sources and global tables), by topic name; default 1 each. Internal and
   * output topics get the count the runtime would give them (the topic's own `partitions`, else the largest input
   * count), so keys land in the same partitions as in production.
   */
  readonly partitions?: Readonly<Record<string, number>>;
  /**
   * Most records per batch (one batch per task and source partition, as the runtime's consumer fetches them);
   * default 5,000 (the runner's default). Batches matter where eddy is batch-aware: dead letters of records that
   * could not be decoded come first in their batch, agents run once per batch, write caches coalesce per batch.
   */
  readonly maxBatchRecords?: number;
  /** Write-cache bound per store, in entries; default 50,000 (as the runner). */
  readonly maxCacheEntries?: number;
  /** The largest record a topic accepts (`max.message.bytes`), bytes, by topic; default no limit. */
  readonly maxRecordBytes?: Readonly<Record<string, number>>;
  /**
   * Where schemas are registered; default a fresh in-memory local registry (closed by `close()`). Pass one to test
   * schema evolution against schemas registered beforehand.
   */
  readonly registry?: import('../schema/types.js').SchemaRegistry;
  /** Timestamp given to piped records that name none (the input clock), ms since epoch; default 0. */
  readonly startTimeMs?: number;
  /** How far the input clock moves after each piped record that took its timestamp from it, ms; default 0. */
  readonly autoAdvanceMs?: number;
}

/** A record to pipe into an input topic; `timestampMs` defaults to the driver's input clock. */
export interface TestInputRecord<K = unknown, V = unknown> {
  readonly topic: string;
  readonly key: K;
  /** The value; `null` is a tombstone (deletes a global table row; a stream topic dead-letters it, as in production). */
  readonly value: V | null;
  readonly timestampMs?: number;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
}

/** Bytes piped as they are (malformed records, or records written with another schema). */
export interface RawTestInputRecord {
  readonly topic: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestampMs?: number;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** Default: the partition of `key` (murmur2, like production). */
  readonly partition?: number;
}

/** A record read back from an output (or repartition) topic, decoded with the topic's schemas. */
export interface TestOutputRecord<K = unknown, V = unknown> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: K;
  readonly value: V | null;
  /** Event time, ms since epoch. */
  readonly timestamp: number;
  /** Headers as UTF-8 text (eddy's provenance headers `eddy.source.*`, `eddy.topology` among them). */
  readonly headers: Readonly<Record<string, string>>;
  /** The input record that made this one (from the provenance headers). */
  readonly source: Origin;
}

/** A dead letter read back from the topology's dead-letter topic. */
export interface TestDeadLetter {
  readonly partition: number;
  readonly offset: number;
  /** Why the record was dead-lettered (`eddy.dlq.reason`). */
  readonly reason: string;
  /** The processor that dead-lettered it (`eddy.dlq.processor`): a processor name, `deserialize` or `produce`. */
  readonly processor: string;
  /** The input record it came from. */
  readonly source: Origin;
  /** The original key and value bytes (null when they were too large for the dead-letter topic). */
  readonly keyBytes: Buffer | null;
  readonly valueBytes: Buffer | null;
  /** Key and value decoded with the topology's schema of their schema id; undefined when they cannot be. */
  readonly key: unknown;
  readonly value: unknown;
  readonly timestamp: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** Read access to a key-value store across all its tasks (partitions). */
export interface TestKeyValueStore<K, V> {
  /** The value of `key` in whichever partition holds it, or undefined. */
  get(key: K): V | undefined;
  /** Every entry, partition by partition, ordered by key bytes within a partition. */
  all(): { key: K; value: V; partition: number }[];
  count(): number;
}

/** Read access to a window store across all its tasks (partitions). */
export interface TestWindowStore<K, V> {
  /** The value of the window of `key` starting at `windowStartMs`, or undefined. */
  get(key: K, windowStartMs: number): V | undefined;
  /** Every window, partition by partition, ordered by key bytes then window start within a partition. */
  all(): { key: K; windowStartMs: number; windowEndMs: number; value: V; partition: number }[];
  count(): number;
}

/** Converts header values given as text to bytes. */
export function toHeaders(h: Readonly<Record<string, string | Buffer>> | undefined): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(h ?? {})) out[k] = typeof v === 'string' ? Buffer.from(v) : v;
  return out;
}

/** Decodes headers to UTF-8 text. */
export function headersText(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k] = v.toString('utf8');
  return out;
}
