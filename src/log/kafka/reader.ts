/**
 * `Log.read` on Kafka: direct read_committed Fetch requests to the partition's leader, no consumer group.
 *
 * The end: `toOffset`, or by default the last stable offset (LSO) at the time of the call, i.e. the end of
 * the data whose transactions are decided (the high watermark when no transaction is open). An explicit
 * `toOffset` beyond the LSO is cut to it, so `read` never waits for open transactions. Transaction markers
 * and aborted records occupy offsets too, so the last record returned may be below `toOffset - 1`: the
 * reader stops when its *position* (the offset after the last record batch fetched, markers and aborted
 * records included) reaches the end, never by looking for a record at `toOffset - 1` (Faust hung on
 * recovery under exactly-once that way).
 *
 * Speed: the next Fetch is sent while the caller processes the current batch (one fetch ahead).
 */
import { ConfigError, RecordsDeletedError } from '../../errors.js';
import type { LogRecord, ReadOptions, TopicPartition } from '../contract.js';
import { hasErrorType, toEddyError } from './client.js';
import { type RawMessage, type RawPartitionData, READ_COMMITTED } from './internals.js';
import { EARLIEST, LATEST, type RawClient } from './raw.js';

/** Bytes asked for per Fetch (the broker returns at least one whole record batch even if larger). */
const FETCH_MAX_BYTES = 8 * 1024 * 1024;
/** Age of metadata used to check the partition exists (refreshed when it does not). */
const METADATA_MAX_AGE_MS = 1_000;
/** Long-poll wait of a Fetch, ms (only reached when no data is there, which the end offset rules out). */
const FETCH_MAX_WAIT_MS = 500;

/** Converts a kafkajs record to a `LogRecord`; a repeated header name keeps its last value. */
export function toLogRecord(topic: string, partition: number, m: RawMessage): LogRecord {
  const headers: Record<string, Buffer> = {};
  for (const name in m.headers) {
    const v = m.headers[name];
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== null && last !== undefined) headers[name] = last;
  }
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key,
    value: m.value,
    headers,
    timestamp: Number(m.timestamp),
  };
}

/** The offset after the record batch a kafkajs record came from. */
function batchEnd(m: RawMessage): number {
  return Number(m.batchContext.firstOffset) + m.batchContext.lastOffsetDelta + 1;
}

interface Fetched {
  readonly records: LogRecord[];
  /** The position after this fetch (>= the start; == the start when nothing came back). */
  readonly next: number;
}

/**
 * Reads one partition (committed records only) in batches of at most `maxBatchRecords` (default 10,000)
 * from `fromOffset` (default, and at least, the log start offset at the call) to `toOffset` (see the file
 * comment). Throws (at the first iteration) `UnknownTopicError`, `UnknownPartitionError`, `ConfigError`,
 * `KafkaError`; `RecordsDeletedError` when the log start moves past the read's position while reading
 * (retention, DeleteRecords): it never skips ahead.
 */
export async function* readPartition(
  raw: RawClient,
  tp: TopicPartition,
  opts: ReadOptions = {},
): AsyncGenerator<LogRecord[]> {
  const max = opts.maxBatchRecords ?? 10_000;
  if (!Number.isInteger(max) || max < 1) {
    throw new ConfigError(`maxBatchRecords must be an integer >= 1, got ${max}.`, { maxBatchRecords: max });
  }
  const { topic, partition } = tp;
  await raw.requirePartition(topic, partition, METADATA_MAX_AGE_MS);
  const [low, lso] = await Promise.all([
    raw.listOffsets(topic, [partition], EARLIEST, READ_COMMITTED).then((m) => m.get(partition)!),
    raw.listOffsets(topic, [partition], LATEST, READ_COMMITTED).then((m) => m.get(partition)!),
  ]);
  const end = Math.min(opts.toOffset ?? lso, lso);
  let position = Math.max(opts.fromOffset ?? low, low);
  if (position >= end) return;

  const fetchFrom = (from: number): Promise<Fetched> => {
    const p = fetchOnce(raw, topic, partition, from, end);
    p.catch(() => undefined); // a prefetch the caller never awaits (it stopped early) must not be unhandled
    return p;
  };
  let pending = fetchFrom(position);
  while (position < end) {
    const { records, next } = await pending;
    position = next;
    if (position < end) pending = fetchFrom(position);
    for (let i = 0; i < records.length; i += max) yield records.slice(i, i + max);
  }
}

/**
 * Fetches from `from`, returns the committed records below `end` and the new position. An empty response
 * below `end` (record batches emptied by compaction, or a batch cut by the size limit) is retried with a
 * larger size; if still empty, nothing readable is left below `end` and the position jumps there.
 */
async function fetchOnce(
  raw: RawClient,
  topic: string,
  partition: number,
  from: number,
  end: number,
): Promise<Fetched> {
  let maxBytes = FETCH_MAX_BYTES;
  for (let attempt = 0; ; attempt++) {
    let data: RawPartitionData;
    try {
      data = await raw.fetch(topic, partition, from, maxBytes, FETCH_MAX_WAIT_MS);
    } catch (err) {
      if (!hasErrorType(err, 'OFFSET_OUT_OF_RANGE')) throw toEddyError(err, 'read', { topic, partition, offset: from });
      // retention or deleteRecords moved the log start past our position: records were lost, never skip ahead
      const low = (await raw.listOffsets(topic, [partition], EARLIEST, READ_COMMITTED)).get(partition)!;
      if (low > from) throw new RecordsDeletedError(topic, partition, from, low);
      throw toEddyError(err, 'read', { topic, partition, offset: from });
    }
    const records: LogRecord[] = [];
    let next = from;
    for (const m of data.messages) {
      const offset = Number(m.offset);
      if (offset >= end) {
        next = end; // everything below the end has been seen
        break;
      }
      const e = batchEnd(m);
      if (e > next) next = e;
      if (offset < from || m.isControlRecord) continue;
      records.push(toLogRecord(topic, partition, m));
    }
    if (next > from) return { records, next: Math.min(next, end) };
    if (attempt >= 2) return { records, next: end };
    maxBytes *= 4;
  }
}
