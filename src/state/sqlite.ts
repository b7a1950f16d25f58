import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreCorruptError, storageErrorOf } from '../errors.js';
import {
  corruptMarkerPath,
  identityRows,
  isCorruptionError,
  type StoreIdentity,
  writeCleanMarker,
} from './store-file.js';

/**
 * A changelog record as captured from, or restored into, a store: `value === null` is a tombstone (delete).
 * `timestampMs` is the entry's timestamp (ms since epoch): the changelog record's timestamp, and what the store keeps
 * beside the value (Kafka Streams' timestamped stores, `ValueAndTimestamp`, KIP-258). Undefined on an entry captured
 * from a write that gave no timestamp: `TaskContext.changelogs` then stamps it with the batch's last timestamp before
 * it is sent and applied, so the store and its changelog always agree.
 */
export interface ChangelogEntry {
  readonly key: Buffer;
  readonly value: Buffer | null;
  readonly timestampMs?: number;
}

/**
 * The timestamp of a row written before stores kept timestamps (a store file from an older eddy whose `ts` column was
 * added empty): -1, as Kafka Streams gives values upgraded from a plain to a timestamped store (KIP-258).
 */
export const NO_TIMESTAMP = -1;

/**
 * Adds the `ts INTEGER` column (the entry's timestamp, ms) to `table` of a store file created before stores kept
 * timestamps. Rows keep their values; their `ts` is NULL, read as `NO_TIMESTAMP`.
 */
export function ensureTimestampColumn(db: Database.Database, table: 'kv' | 'win'): void {
  const cols = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  if (!cols.some((c) => c.name === 'ts')) db.exec(`ALTER TABLE ${table} ADD COLUMN ts INTEGER`);
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
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    db.exec('CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** How a byte store is opened. */
export interface SqliteStoreOptions {
  /** The task owning the store, named in `StoreCorruptError`s. */
  readonly task?: string;
  /**
   * Record a clean-close marker when closed (`writeCleanMarker`): set by the runtime's stores (`TaskStores`), whose
   * next open skips `PRAGMA quick_check` when the marker is valid; not by tools that only read a file (inspect).
   */
  readonly recordCleanClose?: boolean;
}

/**
 * Common to every SQLite-backed byte store: the checkpoint, the identity and the lifecycle.
 * Every SQLite call of a store goes through `guard`: a `SQLITE_CORRUPT`/`SQLITE_NOTADB` becomes a
 * `StoreCorruptError` naming the store, task and file, and marks the file (`<file>.corrupt`) so that the next open
 * quarantines it and rebuilds the store from its changelog.
 */
export abstract class SqliteStoreBase {
  readonly name: string;
  readonly path: string;
  protected readonly db: Database.Database;
  private readonly getMeta: Database.Statement<[string], { value: string }>;
  private readonly setMeta: Database.Statement<[string, string]>;
  private closed = false;
  /** Set once a store operation met corruption: the file is not marked clean at close. */
  private corrupt = false;

  protected constructor(
    name: string,
    path: string,
    private readonly opts: SqliteStoreOptions = {},
  ) {
    this.name = name;
    this.path = path;
    try {
      this.db = openStoreDb(path);
      this.getMeta = this.db.prepare('SELECT value FROM meta WHERE name = ?');
      this.setMeta = this.db.prepare(
        'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      );
    } catch (err) {
      throw this.corruption(err);
    }
  }

  /**
   * Runs `fn` (SQLite calls on this store); a corruption error (`isCorruptionError`) is rethrown as
   * `StoreCorruptError` and the file is marked for quarantine; file-system trouble (a full disk, permissions) as a
   * `StorageError` naming the store, task and file. Other errors pass unchanged.
   */
  protected guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.corruption(err);
    }
  }

  /** `guard` for an iteration: errors raised while stepping through the rows are translated too. */
  protected *guardIter<T>(rows: () => Iterable<T>): IterableIterator<T> {
    try {
      yield* rows();
    } catch (err) {
      throw this.corruption(err);
    }
  }

  private corruption(err: unknown): unknown {
    if (!isCorruptionError(err))
      return (
        storageErrorOf(err, `state store "${this.name}" of task ${this.opts.task ?? '(unknown)'}`, this.path) ?? err
      );
    this.corrupt = true;
    const reason = `${err.message} (${err.code})`;
    try {
      writeFileSync(corruptMarkerPath(this.path), `${reason}\n`);
    } catch {
      // best effort: without the marker the next open still runs quick_check (no clean-close marker)
    }
    return new StoreCorruptError(this.name, this.opts.task, this.path, reason, err);
  }

  /** The changelog offset this store reflects (next offset to restore from); 0 for a new store. */
  checkpoint(): number {
    const row = this.guard(() => this.getMeta.get('changelog_offset'));
    return row === undefined ? 0 : Number(row.value);
  }

  /** Records who this store file is (see `StoreIdentity`), in the `meta` table. Called once, on a new file. */
  writeIdentity(id: StoreIdentity): void {
    this.guard(() =>
      this.db.transaction(() => {
        for (const [k, v] of identityRows(id)) this.setMeta.run(k, v);
      })(),
    );
  }

  /** Applies one entry (no transaction); subclasses decode the changelog key. */
  protected abstract applyOne(entry: ChangelogEntry): void;

  /**
   * Applies changelog entries and moves the checkpoint, in one SQLite transaction: after a crash the store
   * holds either all of them and the new checkpoint, or none and the old one.
   * @param checkpoint the changelog offset after the last entry (next to restore from)
   */
  apply(entries: readonly ChangelogEntry[], checkpoint: number): void {
    this.guard(() =>
      this.db.transaction(() => {
        for (const e of entries) this.applyOne(e);
        this.setMeta.run('changelog_offset', String(checkpoint));
      })(),
    );
  }

  /** Number of entries in the store. */
  abstract count(): number;

  /**
   * Closes the SQLite handle and, with `recordCleanClose` and no corruption seen, records the clean-close marker.
   * Safe to call twice.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    if (this.opts.recordCleanClose && !this.corrupt) writeCleanMarker(this.path);
  }
}
