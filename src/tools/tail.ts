/**
 * `eddy tail`: the records of a topic from a start position, read_committed (`Log.read`), partition by partition;
 * with `follow`, then polls for new records until stopped.
 */
import { ConfigError, UnknownPartitionError, UnknownTopicError } from '../errors.js';
import type { Log, LogRecord } from '../log/contract.js';

/** Records per partition `eddy tail` shows when no start is given (as `tail` shows the last lines of a file). */
export const DEFAULT_LAST_RECORDS = 10;

/**
 * Where reading starts: the log start of every partition; one partition from an offset (only that partition is
 * read); the first record at or after a time in every partition; or the last N records of every partition.
 */
export type TailStart =
  | { readonly kind: 'beginning' }
  | { readonly kind: 'offset'; readonly partition: number; readonly offset: number }
  | { readonly kind: 'time'; readonly timestampMs: number }
  | { readonly kind: 'last'; readonly records: number };

/** Options of `tail`. */
export interface TailOptions {
  readonly log: Log;
  readonly topic: string;
  readonly start: TailStart;
  /** Stop after this many records in all (default: no limit). */
  readonly limit?: number;
  /** After reading to the end, poll for new records every `pollMs` until `signal` aborts (or `limit` is reached). */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  /** Poll interval of `follow`, ms (default 500). */
  readonly pollMs?: number;
  /** Receives the records in offset order per partition; awaited before reading on. */
  readonly onRecords: (records: readonly LogRecord[]) => Promise<void> | void;
}

/** Parses `--offset P:O`. Throws ConfigError. */
export function parsePartitionOffset(raw: string): { partition: number; offset: number } {
  const m = /^(\d+):(\d+)$/.exec(raw.trim());
  if (m === null) throw new ConfigError(`--offset must be <partition>:<offset>, e.g. 0:42, got "${raw}"`);
  return { partition: Number(m[1]), offset: Number(m[2]) };
}

/** Parses an ISO-8601 time (`--from`), ms since epoch. Throws ConfigError. */
export function parseTime(raw: string, flag = '--from'): number {
  const ms = Date.parse(raw);
  if (Number.isNaN(ms))
    throw new ConfigError(`${flag} must be an ISO-8601 time, e.g. 2001-01-01T00:00:00Z, got "${raw}"`);
  return ms;
}

/**
 * Reads the topic from `start` and hands the records to `onRecords`; returns how many were handed.
 * @throws UnknownTopicError; UnknownPartitionError for `--offset` on a partition that does not exist; ConfigError
 *   for an offset outside the partition's records.
 */
export async function tail(o: TailOptions): Promise<number> {
  if ((await o.log.describeTopic(o.topic)) === undefined)
    throw new UnknownTopicError(
      o.topic,
      (await o.log.listTopics()).map((t) => t.name),
    );
  const offsets = await o.log.offsets(o.topic);
  const positions = new Map<number, number>();
  const s = o.start;
  if (s.kind === 'offset') {
    const p = offsets.find((x) => x.partition === s.partition);
    if (p === undefined) throw new UnknownPartitionError(o.topic, s.partition, offsets.length);
    if (s.offset < p.low || s.offset > p.high)
      throw new ConfigError(
        `--offset ${s.partition}:${s.offset}: partition ${s.partition} of ${o.topic} holds offsets ${p.low}..${p.high - 1} (next: ${p.high})`,
      );
    positions.set(s.partition, s.offset);
  } else if (s.kind === 'time') {
    for (const [p, off] of await o.log.offsetsForTime(o.topic, s.timestampMs)) positions.set(p, off);
  } else {
    for (const p of offsets)
      positions.set(p.partition, s.kind === 'beginning' ? p.low : Math.max(p.low, p.high - s.records));
  }
  let shown = 0;
  const left = () => (o.limit === undefined ? Number.POSITIVE_INFINITY : o.limit - shown);
  const pass = async (): Promise<void> => {
    for (const [partition, from] of [...positions].sort((a, b) => a[0] - b[0])) {
      if (left() <= 0 || o.signal?.aborted) return;
      let next = from;
      for await (const batch of o.log.read({ topic: o.topic, partition }, { fromOffset: from })) {
        const take = batch.slice(0, Math.max(0, left()));
        if (take.length > 0) {
          shown += take.length;
          next = take[take.length - 1].offset + 1;
          await o.onRecords(take);
        }
        if (left() <= 0 || o.signal?.aborted) break;
      }
      positions.set(partition, next);
    }
  };
  await pass();
  while (o.follow && left() > 0 && !o.signal?.aborted) {
    await sleep(o.pollMs ?? 500, o.signal);
    if (o.signal?.aborted) break;
    await pass();
  }
  return shown;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
