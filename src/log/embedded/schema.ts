/**
 * The embedded log's SQLite schema and connection setup. Every table is prefixed `log_`: the same file also
 * holds other components' tables (e.g. the local schema registry's `schema_*`).
 *
 * Tables:
 * - `log_topics`: one row per topic (id, name, partition count, compacted flag, extra config as JSON).
 * - `log_partitions`: per topic partition, the low offset (first readable) and high watermark (next offset).
 * - `log_segments`: the records, up to 1,000 consecutive records of one partition per row, encoded in one BLOB
 *   (format in `segment.ts`), indexed by (topic_id, partition, last_offset). A row per record was measured at
 *   ~340k appends/s and ~700k reads/s (better-sqlite3 allocates one Buffer per BLOB cell); segments are
 *   several times faster both ways. Offsets covered by a row: `base_offset..last_offset`; after compaction
 *   it holds `record_count` survivors of that range.
 * - `log_group_offsets`: committed consumer-group offsets (+ metadata) per (group, topic, partition).
 * - `log_producers`: transactional id -> current epoch (fencing).
 * - `log_groups`, `log_group_members`, `log_group_claims`: consumer-group generation, live members
 *   (heartbeat leases, plus host and pid so a crashed local process is noticed at once) and which member
 *   currently owns which partition.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** Bumped when the layout of the `log_` tables changes incompatibly. */
export const LOG_SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS log_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_topics (
  topic_id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  partitions INTEGER NOT NULL,
  compacted INTEGER NOT NULL,
  config TEXT
);
CREATE TABLE IF NOT EXISTS log_partitions (
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  low INTEGER NOT NULL DEFAULT 0,
  high INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_segments (
  segment_id INTEGER PRIMARY KEY,
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  base_offset INTEGER NOT NULL,
  last_offset INTEGER NOT NULL,
  record_count INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_segments_by_offset ON log_segments (topic_id, partition, last_offset, base_offset);
CREATE TABLE IF NOT EXISTS log_group_offsets (
  group_id TEXT NOT NULL,
  topic_id INTEGER NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  metadata TEXT,
  PRIMARY KEY (group_id, topic_id, partition)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_group_offsets_by_topic ON log_group_offsets (topic_id);
CREATE TABLE IF NOT EXISTS log_producers (
  transactional_id TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_groups (
  group_id TEXT PRIMARY KEY,
  generation INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_group_members (
  group_id TEXT NOT NULL,
  member_id TEXT NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  joined_at INTEGER NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  pid INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_group_claims (
  group_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  member_id TEXT NOT NULL,
  PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
`;

/** Connection settings. */
export interface OpenOptions {
  /** How long a statement waits for another connection's lock before failing, ms. Default 10,000. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed, with parent directories) the SQLite file at `path` and makes sure the `log_`
 * tables exist. Sets WAL journaling, `synchronous=NORMAL` and the busy timeout.
 * Throws better-sqlite3's `SqliteError` if the file cannot be opened, and `Error` if the file holds `log_`
 * tables of a newer, unknown layout.
 */
export function openDatabase(path: string, opts: OpenOptions = {}): Database.Database {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: opts.busyTimeoutMs ?? 10_000 });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    db.transaction(() => {
      db.exec(DDL);
      // Files created before members recorded their process: add the columns (ephemeral rows, defaults are fine).
      const memberColumns = new Set(
        db.prepare(`SELECT name FROM pragma_table_info('log_group_members')`).pluck().all() as string[],
      );
      if (!memberColumns.has('host')) db.exec(`ALTER TABLE log_group_members ADD COLUMN host TEXT NOT NULL DEFAULT ''`);
      if (!memberColumns.has('pid')) db.exec('ALTER TABLE log_group_members ADD COLUMN pid INTEGER NOT NULL DEFAULT 0');
      const row = db.prepare(`SELECT value FROM log_meta WHERE key = 'schema_version'`).get() as
        | { value: string }
        | undefined;
      if (row === undefined) {
        db.prepare(`INSERT INTO log_meta (key, value) VALUES ('schema_version', ?)`).run(String(LOG_SCHEMA_VERSION));
      } else if (Number(row.value) > LOG_SCHEMA_VERSION) {
        throw new Error(
          `The embedded log "${path}" has log schema version ${row.value}; this eddy understands up to ` +
            `${LOG_SCHEMA_VERSION}. Upgrade eddy or use another file.`,
        );
      }
    }).immediate();
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
