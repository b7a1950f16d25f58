import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** A changelog record as captured from, or restored into, a store: `value === null` is a tombstone (delete). */
export interface ChangelogEntry {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/**
 * Opens a store's SQLite file (WAL, synchronous=NORMAL), creating parent directories.
 * Each store file has a `meta` table holding the store's checkpoint: the changelog offset it reflects,
 * i.e. the offset of the next changelog record not yet applied (Kafka Streams' `.checkpoint` file, kept
 * inside the store so that data and checkpoint change in one SQLite transaction).
 */
export function openStoreDb(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  return db;
}

/** Common to every SQLite-backed byte store: the checkpoint and the lifecycle. */
export abstract class SqliteStoreBase {
  readonly name: string;
  readonly path: string;
  protected readonly db: Database.Database;
  private readonly getMeta: Database.Statement<[string], { value: string }>;
  private readonly setMeta: Database.Statement<[string, string]>;
  private closed = false;

  protected constructor(name: string, path: string) {
    this.name = name;
    this.path = path;
    this.db = openStoreDb(path);
    this.getMeta = this.db.prepare('SELECT value FROM meta WHERE name = ?');
    this.setMeta = this.db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
  }

  /** The changelog offset this store reflects (next offset to restore from); 0 for a new store. */
  checkpoint(): number {
    const row = this.getMeta.get('changelog_offset');
    return row === undefined ? 0 : Number(row.value);
  }

  /** Applies one entry (no transaction); subclasses decode the changelog key. */
  protected abstract applyOne(entry: ChangelogEntry): void;

  /**
   * Applies changelog entries and moves the checkpoint, in one SQLite transaction: after a crash the store
   * holds either all of them and the new checkpoint, or none and the old one.
   * @param checkpoint the changelog offset after the last entry (next to restore from)
   */
  apply(entries: readonly ChangelogEntry[], checkpoint: number): void {
    this.db.transaction(() => {
      for (const e of entries) this.applyOne(e);
      this.setMeta.run('changelog_offset', String(checkpoint));
    })();
  }

  /** Number of entries in the store. */
  abstract count(): number;

  /** Closes the SQLite handle. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
