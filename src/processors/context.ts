import type { Headers, LogRecord } from '../log/contract.js';
import type { KeyValueStore, WindowStore } from '../state/stores.js';

/**
 * A record as a processor sees it (Kafka Streams' `Record`: key, value, timestamp and headers in one value,
 * so the API can grow without breaking signatures). Timestamp is event time in ms since epoch.
 */
export interface Rec<K, V> {
  readonly key: K;
  readonly value: V;
  readonly timestamp: number;
  readonly headers: Headers;
}

/** Where a record came from: the input topic, partition and offset that made it (kept through repartitions). */
export interface Origin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * A record flowing through a task: the user-visible `Rec` plus provenance. `raw` is the log record the task read
 * (what the dead-letter topic receives); `origin` is the input offset that made it, carried across repartition
 * topics in the `eddy.source.*` headers.
 */
export interface Flowing<K = unknown, V = unknown> extends Rec<K, V> {
  readonly raw: LogRecord;
  readonly origin: Origin;
}

/** Derives a new flowing record from `from` (same provenance). */
export function derive<K, V>(from: Flowing, key: K, value: V, timestamp = from.timestamp): Flowing<K, V> {
  return { key, value, timestamp, headers: from.headers, raw: from.raw, origin: from.origin };
}

/** Counters a processor reports into: they tell whether the data, not only the process, is healthy. */
export interface ProcessorMetrics {
  /** Records that a processor dropped on purpose (filter, inner join miss), by processor name. */
  dropped(processor: string, n?: number): void;
  /** Records that arrived after their window closed (window end + grace <= stream time), by processor. */
  late(processor: string, n?: number): void;
}

/**
 * What a processor may do besides returning records: reach its state stores, send records to topics,
 * dead-letter a record, and report metrics. One context per task (one input partition of a sub-topology).
 */
export interface ProcessorContext {
  readonly taskId: string;
  readonly partition: number;
  readonly metrics: ProcessorMetrics;
  kvStore<K, V>(name: string): KeyValueStore<K, V>;
  windowStore<K, V>(name: string): WindowStore<K, V>;
  /** Global tables are read-only key -> value maps, bootstrapped from their compacted topic before processing. */
  globalTable<K, V>(name: string): ReadonlyGlobalTable<K, V>;
  /** Stream time of one windowed processor (max event time it has seen), persisted with committed offsets. */
  streamTime(processor: string): number;
  setStreamTime(processor: string, ms: number): void;
  /** Sends a record to a topic (serialized with the topic's serdes, partitioned by key). */
  send(topic: string, rec: Flowing): void;
  /**
   * Sends the original bytes of `rec` to the topology's dead-letter topic with the reason and where it came from
   * in headers (`eddy.dlq.reason`, `eddy.dlq.processor`, `eddy.source.topic|partition|offset`).
   */
  deadLetter(rec: Flowing, processor: string, reason: string): void;
}

/** A read-only table view. */
export interface ReadonlyGlobalTable<K, V> {
  get(key: K): V | undefined;
  readonly size: number;
}

/**
 * A processor: takes the records of one batch for one task in offset order, returns the records for its
 * children (in order). Stateful processors use stores through the context. `process` may be async (agents).
 */
export interface Processor {
  process(records: readonly Flowing[], ctx: ProcessorContext): readonly Flowing[] | Promise<readonly Flowing[]>;
}

/** What to do when user code throws inside a processor. `dead-letter` (default) or `fail` (stop the task). */
export type ErrorPolicy = 'dead-letter' | 'fail';

/** Runs `fn` for one record; on a throw, dead-letters the record (or rethrows under the `fail` policy). */
export function guarded<T>(
  ctx: ProcessorContext,
  processor: string,
  rec: Flowing,
  policy: ErrorPolicy,
  fn: () => T,
): T | typeof FAILED {
  try {
    return fn();
  } catch (err) {
    if (policy === 'fail') throw err;
    ctx.deadLetter(rec, processor, `processing error: ${err instanceof Error ? err.message : String(err)}`);
    return FAILED;
  }
}

/**
 * For operators that need a key (aggregations, repartitions): true when `rec` has one. A record with a null key is
 * counted as dropped and dead-lettered with a reason starting `null key:` (Kafka Streams drops it with its
 * dropped-records metric; eddy keeps it on the dead-letter topic too, as it does for late records).
 */
export function needsKey(ctx: ProcessorContext, processor: string, rec: Flowing): boolean {
  if (rec.key !== null && rec.key !== undefined) return true;
  ctx.metrics.dropped(processor);
  ctx.deadLetter(rec, processor, `null key: ${processor} needs a key (a record with a null key cannot be grouped)`);
  return false;
}

/** Marker returned by `guarded` when the record went to the dead-letter topic. */
export const FAILED: unique symbol = Symbol('eddy.failed');
