import type Database from 'better-sqlite3';
import {
  type ChangelogEntry,
  ensureTimestampColumn,
  NO_TIMESTAMP,
  SqliteStoreBase,
  type SqliteStoreOptions,
} from './sqlite.js';

/**
 * A key-value byte store on SQLite: the local cache of one changelog partition (Kafka Streams'
 * `KeyValueStore` over RocksDB, here over better-sqlite3). Keys and values are the serialized bytes exactly
 * as they appear in the changelog, so a store rebuilt from its changelog is byte-identical. Each row also keeps its
 * timestamp (`ts`, ms: the changelog record's timestamp), as Kafka Streams' timestamped key-value store does.
 */
export class SqliteKeyValueStore extends SqliteStoreBase {
  private readonly getStmt: Database.Statement<[Buffer], { value: Buffer; ts: number | null }>;
  private readonly putStmt: Database.Statement<[Buffer, Buffer, number | null]>;
  private readonly delStmt: Database.Statement<[Buffer]>;
  private readonly allStmt: Database.Statement<[], { key: Buffer; value: Buffer; ts: number | null }>;
  private readonly countStmt: Database.Statement<[], { n: number }>;

  /** Opens (or creates) the store at `path`. Throws `StoreCorruptError` when SQLite reports the file damaged. */
  constructor(name: string, path: string, opts: SqliteStoreOptions = {}) {
    super(name, path, opts);
    this.guard(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL, ts INTEGER) WITHOUT ROWID',
      );
      ensureTimestampColumn(this.db, 'kv');
    });
    this.getStmt = this.db.prepare('SELECT value, ts FROM kv WHERE key = ?');
    this.putStmt = this.db.prepare(
      'INSERT INTO kv (key, value, ts) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, ts = excluded.ts',
    );
    this.delStmt = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.allStmt = this.db.prepare('SELECT key, value, ts FROM kv ORDER BY key');
    this.countStmt = this.db.prepare('SELECT count(*) AS n FROM kv');
  }

  /** The value bytes for `key`, or undefined. */
  get(key: Buffer): Buffer | undefined {
    return this.guard(() => this.getStmt.get(key)?.value);
  }

  /** The value bytes and timestamp (ms; `NO_TIMESTAMP` for a row written before stores kept one) of `key`. */
  getWithTimestamp(key: Buffer): { value: Buffer; timestampMs: number } | undefined {
    const r = this.guard(() => this.getStmt.get(key));
    return r === undefined ? undefined : { value: r.value, timestampMs: r.ts ?? NO_TIMESTAMP };
  }

  protected applyOne(e: ChangelogEntry): void {
    if (e.value === null) this.delStmt.run(e.key);
    else this.putStmt.run(e.key, e.value, e.timestampMs ?? null);
  }

  /** All entries ordered by key bytes, with their timestamps (ms; `NO_TIMESTAMP` when unknown). */
  *all(): IterableIterator<{ key: Buffer; value: Buffer; timestampMs: number }> {
    for (const r of this.guardIter(() => this.allStmt.iterate()))
      yield { key: r.key, value: r.value, timestampMs: r.ts ?? NO_TIMESTAMP };
  }

  count(): number {
    return this.guard(() => this.countStmt.get()!.n);
  }
}
