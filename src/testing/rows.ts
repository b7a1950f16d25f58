/**
 * The rows golden fixtures hold, one JSON object per line: the same shape whichever engine made them (the test
 * driver or the runtime on the embedded log), so the two can be compared with each other and with the fixtures.
 */
import type { LogRecord } from '../log/contract.js';
import { HEADERS, originOf } from '../runtime/serdes.js';
import { type StoreInfo, windowEndMs } from '../topology/graph.js';

/** Text in dead-letter reasons that names the engine's schema registry; golden rows carry `<registry>` instead. */
export const REGISTRY_PLACEHOLDER = '<registry>';

function sourceOf(r: LogRecord): string {
  const o = originOf(r);
  return `${o.topic}/${o.partition}/${o.offset}`;
}

/** A row of an output topic: `{ partition, source, value }` (source = `<topic>/<partition>/<offset>` of the input). */
export function outputRow(r: LogRecord, value: unknown): string {
  return JSON.stringify({ partition: r.partition, source: sourceOf(r), value });
}

/**
 * A row of a dead-letter topic: `{ partition, source, processor, reason, valueHex }`. `replace` pairs (literal text,
 * placeholder) are applied to the reason, so that machine-specific text (paths, registry addresses) does not reach
 * a fixture.
 */
export function deadLetterRow(r: LogRecord, replace: readonly (readonly [string, string])[]): string {
  let reason = r.headers[HEADERS.dlqReason]?.toString();
  for (const [from, to] of replace) reason = reason?.replaceAll(from, to);
  return JSON.stringify({
    partition: r.partition,
    source: sourceOf(r),
    processor: r.headers[HEADERS.dlqProcessor]?.toString(),
    reason,
    valueHex: r.value?.toString('hex'),
  });
}

/** One store entry as `eddy inspect` prints it: the key under its column name, window bounds, the value's fields. */
export function storeRow(
  info: StoreInfo,
  key: unknown,
  value: unknown,
  windowStartMs?: number,
): Record<string, unknown> {
  const row: Record<string, unknown> = { [info.keyName]: key };
  if (windowStartMs !== undefined) {
    row.window_start = new Date(windowStartMs).toISOString();
    row.window_end = new Date(windowEndMs(info, windowStartMs, value)).toISOString();
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(row, value);
  else row.value = value;
  return row;
}

/** Sorts store rows as `eddy inspect` does: by key text, then window start (stable otherwise). */
export function sortStoreRows(info: StoreInfo, rows: { row: Record<string, unknown>; startMs: number }[]): string[] {
  return rows
    .sort((a, b) => String(a.row[info.keyName]).localeCompare(String(b.row[info.keyName])) || a.startMs - b.startMs)
    .map((r) => JSON.stringify(r.row));
}
