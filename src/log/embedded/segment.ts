/**
 * The embedded log stores records in *segments*: one SQLite row holds up to `SEGMENT_MAX_RECORDS`
 * consecutive records of one partition, encoded in one BLOB (like Kafka's record batches). One row per
 * segment instead of one per record is what makes appends and sequential reads fast: SQLite's per-row and
 * better-sqlite3's per-BLOB costs are paid once per segment, and records read back are views into the
 * segment's buffer.
 *
 * Segment BLOB format, version 1:
 * ```
 * u8       format version (1)
 * f64 LE   base timestamp (ms since epoch)
 * per record, in offset order:
 *   varint  offset - segment base offset
 *   varint  zigzag(timestamp - base timestamp)
 *   varint  key length + 1   (0 = null key),   key bytes
 *   varint  value length + 1 (0 = tombstone),  value bytes
 *   varint  header count, per header:
 *             varint name ref: 0 = a new name follows (varint length, utf8 bytes; it gets the next index in
 *                    the segment's name table), k > 0 = the name at index k - 1 of that table
 *             varint value length, value bytes
 * ```
 * Varints are unsigned LEB128 over JS numbers (exact up to 2^53). Offsets inside a segment only grow;
 * compaction may leave gaps. The per-segment name table makes repeated header names (eddy's provenance
 * headers are on every output record) cost one byte each and decode once per segment.
 */
import type { Headers, LogRecord } from '../contract.js';

/** Current segment format version (first byte of every segment). */
export const SEGMENT_FORMAT = 1;
/** A segment holds at most this many records... */
export const SEGMENT_MAX_RECORDS = 1_000;
/** ...and is closed once its encoding reaches this many bytes. */
export const SEGMENT_MAX_BYTES = 1 << 20;

const HEADER_BYTES = 9;

/** The `headers` of every decoded record that has none: one shared, frozen object (saves an allocation per record). */
const NO_HEADERS: Headers = Object.freeze({}) as Headers;

/** The fields of a record that get encoded (a `ProducerRecord` or a `LogRecord`). */
export interface EncodableRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Headers;
  readonly timestamp: number;
}

/**
 * Encodes records into a segment, reusing one growing scratch buffer. Usage: `start`, `add`... , `bytes()`
 * (a view valid until the next `start`; SQLite copies bound BLOBs, so binding the view is safe).
 */
export class SegmentWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;
  private baseOffset = 0;
  private baseTimestamp = 0;
  private readonly names = new Map<string, number>();
  /** Records added since `start`. */
  count = 0;
  /** Offset of the last record added. */
  lastOffset = -1;

  /** Starts a new segment whose first record has `baseOffset` and `baseTimestamp`. */
  start(baseOffset: number, baseTimestamp: number): void {
    this.pos = 0;
    this.count = 0;
    this.baseOffset = baseOffset;
    this.lastOffset = baseOffset - 1;
    this.baseTimestamp = baseTimestamp;
    this.names.clear();
    this.ensure(HEADER_BYTES);
    this.buf[0] = SEGMENT_FORMAT;
    this.buf.writeDoubleLE(baseTimestamp, 1);
    this.pos = HEADER_BYTES;
  }

  /** Bytes encoded so far. */
  get size(): number {
    return this.pos;
  }

  /** True when the segment reached `SEGMENT_MAX_RECORDS` or `SEGMENT_MAX_BYTES`. */
  get full(): boolean {
    return this.count >= SEGMENT_MAX_RECORDS || this.pos >= SEGMENT_MAX_BYTES;
  }

  /** Appends one record at `offset` (greater than the previous one). */
  add(offset: number, r: EncodableRecord): void {
    const key = r.key;
    const value = r.value;
    this.ensure(40 + (key === null ? 0 : key.length) + (value === null ? 0 : value.length));
    this.varint(offset - this.baseOffset);
    const dt = r.timestamp - this.baseTimestamp;
    this.varint(dt >= 0 ? dt * 2 : -dt * 2 - 1);
    if (key === null) this.buf[this.pos++] = 0;
    else {
      this.varint(key.length + 1);
      this.buf.set(key, this.pos);
      this.pos += key.length;
    }
    if (value === null) this.buf[this.pos++] = 0;
    else {
      this.varint(value.length + 1);
      this.buf.set(value, this.pos);
      this.pos += value.length;
    }
    const headers = r.headers;
    let count = 0;
    if (headers !== undefined) for (const name in headers) if (Object.hasOwn(headers, name)) count++;
    this.varint(count);
    if (count > 0) {
      for (const name in headers) {
        if (!Object.hasOwn(headers, name)) continue;
        const hv = headers![name];
        this.ensure(20 + name.length * 3 + hv.length);
        const ref = this.names.get(name);
        if (ref !== undefined) this.varint(ref + 1);
        else {
          this.names.set(name, this.names.size);
          this.buf[this.pos++] = 0;
          const nameLen = Buffer.byteLength(name, 'utf8');
          this.varint(nameLen);
          this.pos += this.buf.write(name, this.pos, 'utf8');
        }
        this.varint(hv.length);
        this.buf.set(hv, this.pos);
        this.pos += hv.length;
      }
    }
    this.count++;
    this.lastOffset = offset;
  }

  /** The encoded segment: a view into the scratch buffer, valid until the next `start`. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  private varint(n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.pos++] = n;
  }
}

/**
 * Decodes records of one segment into `out`: those with `from <= offset < to`, at most `max - out.length`
 * more. Keys, values and header values are views into `data` (no copies); records without headers share one
 * frozen empty `headers` object. Records are read-only.
 * Throws `RangeError` for an unknown format version or truncated data.
 * @returns the offset of the last record decoded into `out`, or -1 if none.
 */
export function decodeSegment(
  topic: string,
  partition: number,
  baseOffset: number,
  data: Buffer,
  from: number,
  to: number,
  out: LogRecord[],
  max: number,
): number {
  if (data[0] !== SEGMENT_FORMAT) throw new RangeError(`unknown segment format ${data[0]}`);
  const baseTimestamp = data.readDoubleLE(1);
  const end = data.length;
  const names: string[] = [];
  let pos = HEADER_BYTES;
  let last = -1;
  while (pos < end && out.length < max) {
    let p = pos;
    let n = data[p++];
    if (n >= 0x80) {
      n = varintTail(data, p, n);
      p = cursor;
    }
    const offset = baseOffset + n;
    if (offset >= to) break;
    const wanted = offset >= from;
    n = data[p++];
    if (n >= 0x80) {
      n = varintTail(data, p, n);
      p = cursor;
    }
    const timestamp = baseTimestamp + (n % 2 === 0 ? n / 2 : -(n + 1) / 2);
    n = data[p++];
    if (n >= 0x80) {
      n = varintTail(data, p, n);
      p = cursor;
    }
    let key: Buffer | null = null;
    if (n > 0) {
      if (wanted) key = data.subarray(p, p + n - 1);
      p += n - 1;
    }
    n = data[p++];
    if (n >= 0x80) {
      n = varintTail(data, p, n);
      p = cursor;
    }
    let value: Buffer | null = null;
    if (n > 0) {
      if (wanted) value = data.subarray(p, p + n - 1);
      p += n - 1;
    }
    let count = data[p++];
    if (count >= 0x80) {
      count = varintTail(data, p, count);
      p = cursor;
    }
    const headers: Headers = count === 0 ? NO_HEADERS : {};
    for (let i = 0; i < count; i++) {
      let ref = data[p++];
      if (ref >= 0x80) {
        ref = varintTail(data, p, ref);
        p = cursor;
      }
      let name: string;
      if (ref === 0) {
        let len = data[p++];
        if (len >= 0x80) {
          len = varintTail(data, p, len);
          p = cursor;
        }
        name = data.toString('utf8', p, p + len);
        names.push(name);
        p += len;
      } else {
        name = names[ref - 1];
        if (name === undefined) throw new RangeError('bad header name reference in segment');
      }
      let len = data[p++];
      if (len >= 0x80) {
        len = varintTail(data, p, len);
        p = cursor;
      }
      if (wanted) headers[name] = data.subarray(p, p + len);
      p += len;
    }
    pos = p;
    if (!(pos <= end)) throw new RangeError('truncated segment');
    if (!wanted) continue;
    out.push({ topic, partition, offset, key, value, headers, timestamp });
    last = offset;
  }
  return last;
}

/** Position after the varint just read by the decoder (module state: decoding is synchronous). */
let cursor = 0;

/**
 * Finishes a multi-byte varint whose first byte `first` (>= 0x80) was read just before `pos`; sets `cursor`
 * past it and returns its value. Throws `RangeError` when the data ends inside the varint.
 */
function varintTail(data: Buffer, pos: number, first: number): number {
  let n = first & 0x7f;
  let b = first;
  for (let mul = 0x80; b >= 0x80; mul *= 0x80) {
    if (pos >= data.length) throw new RangeError('truncated segment');
    b = data[pos++];
    n += (b & 0x7f) * mul;
  }
  cursor = pos;
  return n;
}
