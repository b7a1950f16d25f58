/**
 * Small helpers shared by the log tests: unique names, record builders, reading a partition fully, polling.
 * Nothing here depends on a particular backend.
 */
import type { ConsumerBatch, Headers, Log, LogRecord, ProducerRecord, ReadOptions } from '../../src/log/contract.js';

let counter = 0;

/** A name unique within this run and across runs (topics and groups of a shared broker never collide). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${counter}`;
}

/** Builds a producer record from strings (null stays null). */
export function rec(
  topic: string,
  partition: number,
  key: string | null,
  value: string | null,
  timestamp = 1_700_000_000_000,
  headers?: Record<string, string>,
): ProducerRecord {
  const h: Headers | undefined =
    headers === undefined
      ? undefined
      : Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]));
  return {
    topic,
    partition,
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
    timestamp,
    ...(h === undefined ? {} : { headers: h }),
  };
}

/** A record as plain strings, for exact comparisons. */
export interface PlainRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  timestamp: number;
}

/** Converts a log record to strings (keys, values and header values decoded as UTF-8). */
export function plain(r: LogRecord): PlainRecord {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    key: r.key === null ? null : r.key.toString('utf8'),
    value: r.value === null ? null : r.value.toString('utf8'),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString('utf8')])),
    timestamp: r.timestamp,
  };
}

/** Reads a partition fully (with `read`) and returns all records as plain strings. */
export async function readAll(log: Log, topic: string, partition: number, opts?: ReadOptions): Promise<PlainRecord[]> {
  const out: PlainRecord[] = [];
  for await (const batch of log.read({ topic, partition }, opts)) for (const r of batch) out.push(plain(r));
  return out;
}

/** Reads a partition and returns the sizes of the yielded batches. */
export async function batchSizes(log: Log, topic: string, partition: number, opts?: ReadOptions): Promise<number[]> {
  const sizes: number[] = [];
  for await (const batch of log.read({ topic, partition }, opts)) sizes.push(batch.length);
  return sizes;
}

/** Polls `cond` every 20 ms until it is true; throws after `timeoutMs` (generous by default, Kafka rebalances are slow). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Collects what a group member was given: batches per partition and its current assignment. */
export class Collector {
  readonly batches: ConsumerBatch[] = [];
  readonly assigned = new Set<string>();
  readonly events: string[] = [];

  /** All delivered records as plain strings, in delivery order. */
  records(): PlainRecord[] {
    return this.batches.flatMap((b) => b.records.map(plain));
  }

  /** Delivered records of one partition. */
  recordsOf(topic: string, partition: number): PlainRecord[] {
    return this.records().filter((r) => r.topic === topic && r.partition === partition);
  }

  /** Number of delivered records. */
  count(): number {
    return this.batches.reduce((n, b) => n + b.records.length, 0);
  }

  /** The current assignment as sorted `topic:partition` strings. */
  assignment(): string[] {
    return [...this.assigned].sort();
  }
}
