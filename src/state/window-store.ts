import type Database from 'better-sqlite3';
import {
  type ChangelogEntry,
  ensureTimestampColumn,
  NO_TIMESTAMP,
  SqliteStoreBase,
  type SqliteStoreOptions,
} from './sqlite.js';

/**
 * Changelog key of a window store entry: the record key's bytes followed by the window start as an 8-byte
 * big-endian signed integer (ms). The layout of Kafka Streams' `WindowKeySchema` without its sequence number.
 */
export function windowChangelogKey(key: Buffer, windowStartMs: number): Buffer {
  const out = Buffer.allocUnsafe(key.length + 8);
  key.copy(out, 0);
  out.writeBigInt64BE(BigInt(windowStartMs), key.length);
  return out;
}

/** Splits a window changelog key into the record key bytes and the window start (ms). */
export function splitWindowChangelogKey(bytes: Buffer): { key: Buffer; windowStartMs: number } {
  if (bytes.length < 8) throw new Error(`window changelog key has ${bytes.length} bytes; at least 8 expected`);
  return { key: bytes.subarray(0, bytes.length - 8), windowStartMs: Number(bytes.readBigInt64BE(bytes.length - 8)) };
}

/** One window's entry: record key bytes, window start (ms), value bytes, timestamp (ms; `NO_TIMESTAMP` if unknown). */
export interface WindowEntry {
  readonly key: Buffer;
  readonly windowStartMs: number;
  readonly value: Buffer;
  readonly timestampMs: number;
}

/**
 * A window byte store on SQLite: values per (key, window start), with an index on the window start for
 * range queries by time (windows closing, retention). The local cache of a window store's changelog. Each row also
 * keeps its timestamp (`ts`, ms: the changelog record's timestamp), as Kafka Streams' timestamped window store does.
 */
export class SqliteWindowStore extends SqliteStoreBase {
  private readonly getStmt: Database.Statement<[Buffer, number], { value: Buffer; ts: number | null }>;
  private readonly putStmt: Database.Statement<[Buffer, number, Buffer, number | null]>;
  private readonly delStmt: Database.Statement<[Buffer, number]>;
  private readonly rangeStmt: Database.Statement<[number, number], WindowRow>;
  private readonly keyStmt: Database.Statement<[Buffer], WindowRow>;
  private readonly keyRangeStmt: Database.Statement<[Buffer, number, number], WindowRow>;
  private readonly allStmt: Database.Statement<[], WindowRow>;
  private readonly countStmt: Database.Statement<[], { n: number }>;

  /** Opens (or creates) the store at `path`. Throws `StoreCorruptError` when SQLite reports the file damaged. */
  constructor(name: string, path: string, opts: SqliteStoreOptions = {}) {
    super(name, path, opts);
    this.guard(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS win (key BLOB NOT NULL, window_start INTEGER NOT NULL, value BLOB NOT NULL, ts INTEGER, PRIMARY KEY (key, window_start)) WITHOUT ROWID;' +
          'CREATE INDEX IF NOT EXISTS win_by_start ON win (window_start, key)',
      );
      ensureTimestampColumn(this.db, 'win');
    });
    this.getStmt = this.db.prepare('SELECT value, ts FROM win WHERE key = ? AND window_start = ?');
    this.putStmt = this.db.prepare(
      'INSERT INTO win (key, window_start, value, ts) VALUES (?, ?, ?, ?) ON CONFLICT(key, window_start) DO UPDATE SET value = excluded.value, ts = excluded.ts',
    );
    this.delStmt = this.db.prepare('DELETE FROM win WHERE key = ? AND window_start = ?');
    this.rangeStmt = this.db.prepare(
      'SELECT key, window_start, value, ts FROM win WHERE window_start >= ? AND window_start < ? ORDER BY window_start, key',
    );
    this.keyStmt = this.db.prepare('SELECT key, window_start, value, ts FROM win WHERE key = ? ORDER BY window_start');
    this.keyRangeStmt = this.db.prepare(
      'SELECT key, window_start, value, ts FROM win WHERE key = ? AND window_start >= ? AND window_start <= ? ORDER BY window_start',
    );
    this.allStmt = this.db.prepare('SELECT key, window_start, value, ts FROM win ORDER BY key, window_start');
    this.countStmt = this.db.prepare('SELECT count(*) AS n FROM win');
  }

  /** The value bytes of one window, or undefined. */
  get(key: Buffer, windowStartMs: number): Buffer | undefined {
    return this.guard(() => this.getStmt.get(key, windowStartMs)?.value);
  }

  /** The value bytes and timestamp (ms; `NO_TIMESTAMP` for a row written before stores kept one) of one window. */
  getWithTimestamp(key: Buffer, windowStartMs: number): { value: Buffer; timestampMs: number } | undefined {
    const r = this.guard(() => this.getStmt.get(key, windowStartMs));
    return r === undefined ? undefined : { value: r.value, timestampMs: r.ts ?? NO_TIMESTAMP };
  }

  protected applyOne(e: ChangelogEntry): void {
    const { key, windowStartMs } = splitWindowChangelogKey(e.key);
    if (e.value === null) this.delStmt.run(key, windowStartMs);
    else this.putStmt.run(key, windowStartMs, e.value, e.timestampMs ?? null);
  }

  /** Windows whose start is in [fromMs, toMs), ordered by start then key bytes. */
  *byStartRange(fromMs: number, toMs: number): IterableIterator<WindowEntry> {
    for (const r of this.guardIter(() => this.rangeStmt.iterate(fromMs, toMs))) yield toEntry(r);
  }

  /** All windows of one key, by start. */
  *byKey(key: Buffer): IterableIterator<WindowEntry> {
    for (const r of this.guardIter(() => this.keyStmt.iterate(key))) yield toEntry(r);
  }

  /** The windows of one key whose start is in [fromMs, toMs] (both inclusive), by start. */
  *byKeyAndStart(key: Buffer, fromMs: number, toMs: number): IterableIterator<WindowEntry> {
    for (const r of this.guardIter(() => this.keyRangeStmt.iterate(key, fromMs, toMs))) yield toEntry(r);
  }

  /** All windows ordered by key bytes then start. */
  *all(): IterableIterator<WindowEntry> {
    for (const r of this.guardIter(() => this.allStmt.iterate())) yield toEntry(r);
  }

  count(): number {
    return this.guard(() => this.countStmt.get()!.n);
  }
}

interface WindowRow {
  key: Buffer;
  window_start: number;
  value: Buffer;
  ts: number | null;
}

function toEntry(r: WindowRow): WindowEntry {
  return { key: r.key, windowStartMs: r.window_start, value: r.value, timestampMs: r.ts ?? NO_TIMESTAMP };
}
