/**
 * A batch of log records packed into one `SharedArrayBuffer`, so that the host thread fetches and packs a batch once
 * and every version thread reads it without a copy: keys, values and header values come out as `Buffer` views into
 * the shared memory. Layout per record: offset (f64), timestamp (f64), key length, value length (i32, -1 = null),
 * header count (i32), then the key and value bytes, then per header: name length (i32), name (UTF-8), value length
 * (i32), value bytes. The buffer is never written after packing.
 */
import type { Headers, LogRecord } from '../../log/contract.js';

/** A packed batch of one partition: what a version thread needs to rebuild its `LogRecord`s. */
export interface PackedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly count: number;
  readonly buffer: SharedArrayBuffer;
}

const FIXED = 8 + 8 + 4 + 4 + 4;

/** Packs records of one partition (in offset order) into shared memory. */
export function packBatch(topic: string, partition: number, records: readonly LogRecord[]): PackedBatch {
  let size = 0;
  for (const r of records) {
    size += FIXED + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    for (const name in r.headers) size += 8 + Buffer.byteLength(name) + r.headers[name].length;
  }
  const buffer = new SharedArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = Buffer.from(buffer);
  let at = 0;
  for (const r of records) {
    view.setFloat64(at, r.offset, true);
    view.setFloat64(at + 8, r.timestamp, true);
    view.setInt32(at + 16, r.key === null ? -1 : r.key.length, true);
    view.setInt32(at + 20, r.value === null ? -1 : r.value.length, true);
    const names = Object.keys(r.headers);
    view.setInt32(at + 24, names.length, true);
    at += FIXED;
    if (r.key !== null) at += r.key.copy(bytes, at);
    if (r.value !== null) at += r.value.copy(bytes, at);
    for (const name of names) {
      const n = bytes.write(name, at + 4, 'utf8');
      view.setInt32(at, n, true);
      at += 4 + n;
      const v = r.headers[name];
      view.setInt32(at, v.length, true);
      at += 4 + v.copy(bytes, at + 4);
    }
  }
  return { topic, partition, count: records.length, buffer };
}

/** The records of a packed batch; their buffers are views into the shared memory (read them, never write). */
export function unpackBatch(b: PackedBatch): LogRecord[] {
  const view = new DataView(b.buffer);
  const out: LogRecord[] = new Array(b.count);
  const { topic, partition, buffer } = b;
  let at = 0;
  for (let i = 0; i < b.count; i++) {
    const offset = view.getFloat64(at, true);
    const timestamp = view.getFloat64(at + 8, true);
    const keyLen = view.getInt32(at + 16, true);
    const valueLen = view.getInt32(at + 20, true);
    const headerCount = view.getInt32(at + 24, true);
    at += FIXED;
    const key = keyLen < 0 ? null : Buffer.from(buffer, at, keyLen);
    at += Math.max(keyLen, 0);
    const value = valueLen < 0 ? null : Buffer.from(buffer, at, valueLen);
    at += Math.max(valueLen, 0);
    const headers: Headers = {};
    for (let h = 0; h < headerCount; h++) {
      const n = view.getInt32(at, true);
      const name = Buffer.from(buffer, at + 4, n).toString('utf8');
      at += 4 + n;
      const len = view.getInt32(at, true);
      headers[name] = Buffer.from(buffer, at + 4, len);
      at += 4 + len;
    }
    out[i] = { topic, partition, offset, key, value, headers, timestamp };
  }
  return out;
}
