import type Database from 'better-sqlite3';
import { type ChangelogEntry, SqliteStoreBase, type SqliteStoreOptions } from './sqlite.js';

/**
 * A key-value byte store on SQLite: the local cache of one changelog partition (Kafka Streams'
 * `KeyValueStore` over RocksDB, here over better-sqlite3). Keys and values are the serialized bytes exactly
 * as they appear in the changelog, so a store rebuilt from its changelog is byte-identical.
 */
export class SqliteKeyValueStore extends SqliteStoreBase {
  private readonly getStmt: Database.Statement<[Buffer], { value: Buffer }>;
  private readonly putStmt: Database.Statement<[Buffer, Buffer]>;
  private readonly delStmt: Database.Statement<[Buffer]>;
  private readonly allStmt: Database.Statement<[], { key: Buffer; value: Buffer }>;
  private readonly countStmt: Database.Statement<[], { n: number }>;

  /** Opens (or creates) the store at `path`. Throws `StoreCorruptError` when SQLite reports the file damaged. */
  constructor(name: string, path: string, opts: SqliteStoreOptions = {}) {
    super(name, path, opts);
    this.guard(() =>
      this.db.exec('CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID'),
    );
    this.getStmt = this.db.prepare('SELECT value FROM kv WHERE key = ?');
    this.putStmt = this.db.prepare(
      'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.delStmt = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.allStmt = this.db.prepare('SELECT key, value FROM kv ORDER BY key');
    this.countStmt = this.db.prepare('SELECT count(*) AS n FROM kv');
  }

  /** The value bytes for `key`, or undefined. */
  get(key: Buffer): Buffer | undefined {
    return this.guard(() => this.getStmt.get(key)?.value);
  }

  protected applyOne(e: ChangelogEntry): void {
    if (e.value === null) this.delStmt.run(e.key);
    else this.putStmt.run(e.key, e.value);
  }

  /** All entries ordered by key bytes. */
  *all(): IterableIterator<{ key: Buffer; value: Buffer }> {
    yield* this.guardIter(() => this.allStmt.iterate());
  }

  count(): number {
    return this.guard(() => this.countStmt.get()!.n);
  }
}
