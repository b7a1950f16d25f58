/**
 * `SegmentStore`: appends, reads and compacts the records of the embedded log, stored as segments in
 * `log_segments` (format in `segment.ts`). Synchronous; writers MUST run inside the log's write transaction.
 */
import type Database from 'better-sqlite3';
import type { LogRecord } from '../contract.js';
import { decodeSegment, type EncodableRecord, SEGMENT_MAX_RECORDS, SegmentWriter } from './segment.js';

/** Row of a segment query: base offset, last offset, data. */
type SegmentRow = [number, number, Buffer];

/** Segments fetched per query when scanning a whole partition (compaction). */
const SCAN_CHUNK = 256;

/** SQL over `log_segments`. */
export class SegmentStore {
  private readonly s;
  private readonly writer = new SegmentWriter();

  /** @param db the log's connection (tables created by `openDatabase`). */
  constructor(db: Database.Database) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO log_segments (topic_id, partition, base_offset, last_offset, record_count, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      range: db
        .prepare(
          'SELECT base_offset, last_offset, data FROM log_segments WHERE topic_id = ? AND partition = ? ' +
            'AND last_offset >= ? AND base_offset < ? ORDER BY last_offset LIMIT ?',
        )
        .raw(true),
      update: db.prepare(
        'UPDATE log_segments SET record_count = ?, data = ? WHERE topic_id = ? AND partition = ? AND last_offset = ?',
      ),
      delete: db.prepare('DELETE FROM log_segments WHERE topic_id = ? AND partition = ? AND last_offset = ?'),
      deleteTopic: db.prepare('DELETE FROM log_segments WHERE topic_id = ?'),
      deleteBelow: db.prepare('DELETE FROM log_segments WHERE topic_id = ? AND partition = ? AND last_offset < ?'),
    };
  }

  /**
   * Appends `records` to one partition at consecutive offsets starting at `firstOffset`, cutting segments at
   * `SEGMENT_MAX_RECORDS` records or `SEGMENT_MAX_BYTES`. Call inside a write transaction.
   * @returns the next offset (the new high watermark).
   */
  append(topicId: number, partition: number, firstOffset: number, records: readonly EncodableRecord[]): number {
    const w = this.writer;
    let offset = firstOffset;
    let i = 0;
    while (i < records.length) {
      w.start(offset, records[i].timestamp);
      const base = offset;
      while (i < records.length && !w.full) w.add(offset++, records[i++]);
      this.s.insert.run(topicId, partition, base, w.lastOffset, w.count, w.bytes());
    }
    return offset;
  }

  /**
   * Up to `max` records of one partition with `from <= offset < to`, in offset order. Records are views
   * into the fetched segments (no per-record copies).
   */
  read(topic: string, topicId: number, partition: number, from: number, to: number, max: number): LogRecord[] {
    const out: LogRecord[] = [];
    let next = from;
    let limit = Math.ceil(max / SEGMENT_MAX_RECORDS);
    while (out.length < max && next < to) {
      const rows = this.s.range.all(topicId, partition, next, to, limit) as SegmentRow[];
      if (rows.length === 0) break;
      for (const [base, last, data] of rows) {
        decodeSegment(topic, partition, base, data, next, to, out, max);
        if (out.length >= max) return out;
        next = last + 1;
      }
      limit = Math.min(limit * 2, 1024);
    }
    return out;
  }

  /**
   * Compacts one partition (call inside a write transaction): keeps the latest record of each key unless it
   * is a tombstone, keeps null-key records, never changes offsets. Segments left unchanged are not rewritten.
   * @returns the first surviving offset, or `high` when nothing survives.
   */
  compactPartition(topicId: number, partition: number, high: number): number {
    // Pass 1: the latest offset of every key, negative (-(offset + 1)) when that record is a tombstone.
    const latest = new Map<string, number>();
    this.scan(topicId, partition, high, (_base, _last, records) => {
      for (const r of records) {
        if (r.key !== null) latest.set(r.key.toString('latin1'), r.value === null ? -(r.offset + 1) : r.offset + 1);
      }
    });
    // Pass 2: rewrite segments that lost records.
    let low = high;
    const w = this.writer;
    this.scan(topicId, partition, high, (base, last, records) => {
      const kept = records.filter((r) => r.key === null || latest.get(r.key.toString('latin1')) === r.offset + 1);
      if (kept.length > 0 && low === high) low = kept[0].offset;
      if (kept.length === records.length) return;
      if (kept.length === 0) {
        this.s.delete.run(topicId, partition, last);
        return;
      }
      w.start(base, kept[0].timestamp);
      for (const r of kept) w.add(r.offset, r);
      this.s.update.run(kept.length, w.bytes(), topicId, partition, last);
    });
    return low;
  }

  /**
   * Deletes the records of one partition below `before` (call inside a write transaction): segments wholly below
   * are deleted, the segment holding `before` is rewritten without the records below it (offsets unchanged).
   */
  deleteBelow(topicId: number, partition: number, before: number): void {
    this.s.deleteBelow.run(topicId, partition, before);
    const rows = this.s.range.all(topicId, partition, before, before + 1, 1) as SegmentRow[];
    for (const [base, last, data] of rows) {
      if (base >= before) continue;
      const kept: LogRecord[] = [];
      decodeSegment('', partition, base, data, before, last + 1, kept, Number.POSITIVE_INFINITY);
      if (kept.length === 0) {
        this.s.delete.run(topicId, partition, last);
        continue;
      }
      const w = this.writer;
      w.start(base, kept[0].timestamp);
      for (const r of kept) w.add(r.offset, r);
      this.s.update.run(kept.length, w.bytes(), topicId, partition, last);
    }
  }

  /**
   * The first offset in `[from, high)` of one partition whose record timestamp is >= `timestampMs`, or `high`
   * (Kafka's ListOffsets by timestamp). Scans the partition's segments in offset order.
   */
  firstAtOrAfter(topicId: number, partition: number, from: number, high: number, timestampMs: number): number {
    let found = high;
    this.scan(topicId, partition, high, (_base, _last, records) => {
      if (found < high) return;
      for (const r of records) {
        if (r.offset >= from && r.timestamp >= timestampMs) {
          found = r.offset;
          return;
        }
      }
    });
    return found;
  }

  /** Deletes every segment of a topic; call inside a write transaction. */
  deleteTopic(topicId: number): void {
    this.s.deleteTopic.run(topicId);
  }

  /** Calls `fn` for every segment of a partition below `high`, in offset order, with its decoded records. */
  private scan(
    topicId: number,
    partition: number,
    high: number,
    fn: (base: number, last: number, records: LogRecord[]) => void,
  ): void {
    let next = 0;
    for (;;) {
      const rows = this.s.range.all(topicId, partition, next, high, SCAN_CHUNK) as SegmentRow[];
      for (const [base, last, data] of rows) {
        const records: LogRecord[] = [];
        decodeSegment('', partition, base, data, base, last + 1, records, Number.POSITIVE_INFINITY);
        fn(base, last, records);
        next = last + 1;
      }
      if (rows.length < SCAN_CHUNK) return;
    }
  }
}
