/**
 * A schema registry in a SQLite file, for embedded mode: the same file as the embedded log, in tables prefixed
 * `schema_`. Semantics follow Confluent Schema Registry: schema ids are registry-wide and increase from 1 (one id per
 * distinct schema, shared by every subject that registers it); versions are per subject and increase from 1.
 */
import Database from 'better-sqlite3';
import { ConfigError, UnknownSchemaIdError } from '../errors.js';
import { identityOf, parseSchema, schemaFromText } from './avro.js';
import { checkCompatibilityLabeled, incompatible } from './compatibility.js';
import {
  type AvroSchema,
  COMPATIBILITY_LEVELS,
  type CompatibilityLevel,
  DEFAULT_COMPATIBILITY,
  type RegisteredSchema,
  type SchemaRegistry,
} from './types.js';

/** Key of the global compatibility level in `schema_config` (not a valid subject: subjects are non-empty). */
const GLOBAL = '';

const DDL = `
CREATE TABLE IF NOT EXISTS schema_schemas (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  identity    TEXT NOT NULL UNIQUE,  -- identityOf(): sha256 of canonical form + defaults/aliases/order
  schema      TEXT NOT NULL          -- the schema JSON as first registered
);
CREATE TABLE IF NOT EXISTS schema_versions (
  subject   TEXT NOT NULL,
  version   INTEGER NOT NULL,
  schema_id INTEGER NOT NULL REFERENCES schema_schemas(id),
  PRIMARY KEY (subject, version)
);
CREATE TABLE IF NOT EXISTS schema_config (
  subject TEXT PRIMARY KEY,          -- '' = global
  level   TEXT NOT NULL
);`;

interface VersionRow {
  subject: string;
  version: number;
  schema_id: number;
  schema: string;
}

/**
 * `SchemaRegistry` on SQLite (WAL, busy_timeout), safe to share between processes: `register` runs in an IMMEDIATE
 * transaction, so the compatibility check and the insert see the same state. Schemas by id are cached in memory
 * (ids are immutable).
 */
export class LocalSchemaRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, AvroSchema>();
  private readonly stmt;

  private constructor(
    private readonly db: Database.Database,
    /** Path of the SQLite file. */
    readonly path: string,
  ) {
    this.stmt = {
      schemaById: db.prepare<[number], { schema: string }>('SELECT schema FROM schema_schemas WHERE id = ?'),
      idByIdentity: db.prepare<[string], { id: number }>('SELECT id FROM schema_schemas WHERE identity = ?'),
      insertSchema: db.prepare<[string, string]>('INSERT INTO schema_schemas (identity, schema) VALUES (?, ?)'),
      idInSubject: db.prepare<[string, string], { schema_id: number }>(
        `SELECT v.schema_id FROM schema_versions v JOIN schema_schemas s ON s.id = v.schema_id
         WHERE v.subject = ? AND s.identity = ? LIMIT 1`,
      ),
      versions: db.prepare<[string], VersionRow>(
        `SELECT v.subject, v.version, v.schema_id, s.schema FROM schema_versions v
         JOIN schema_schemas s ON s.id = v.schema_id WHERE v.subject = ? ORDER BY v.version`,
      ),
      version: db.prepare<[string, number], VersionRow>(
        `SELECT v.subject, v.version, v.schema_id, s.schema FROM schema_versions v
         JOIN schema_schemas s ON s.id = v.schema_id WHERE v.subject = ? AND v.version = ?`,
      ),
      latest: db.prepare<[string], VersionRow>(
        `SELECT v.subject, v.version, v.schema_id, s.schema FROM schema_versions v
         JOIN schema_schemas s ON s.id = v.schema_id WHERE v.subject = ? ORDER BY v.version DESC LIMIT 1`,
      ),
      insertVersion: db.prepare<[string, number, number]>(
        'INSERT INTO schema_versions (subject, version, schema_id) VALUES (?, ?, ?)',
      ),
      subjects: db.prepare<[], { subject: string }>('SELECT DISTINCT subject FROM schema_versions ORDER BY subject'),
      versionNumbers: db.prepare<[string], { version: number }>(
        'SELECT version FROM schema_versions WHERE subject = ? ORDER BY version',
      ),
      level: db.prepare<[string], { level: string }>('SELECT level FROM schema_config WHERE subject = ?'),
      setLevel: db.prepare<[string, string]>(
        'INSERT INTO schema_config (subject, level) VALUES (?, ?) ON CONFLICT (subject) DO UPDATE SET level = excluded.level',
      ),
    };
  }

  /**
   * Opens (creating if needed) the registry tables in the SQLite file at `path` (`:memory:` works for tests).
   * Sets WAL journaling and a 5 s busy timeout.
   * @throws ConfigError when the file cannot be opened.
   */
  static open(path: string): LocalSchemaRegistry {
    let db: Database.Database;
    try {
      db = new Database(path);
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      db.exec(DDL);
    } catch (err) {
      throw new ConfigError(`Cannot open the local schema registry at "${path}": ${(err as Error).message}`, { path });
    }
    return new LocalSchemaRegistry(db, path);
  }

  async register(subject: string, schema: AvroSchema): Promise<number> {
    return this.registerSync(subject, schema);
  }

  /** Synchronous `register` (same contract). */
  registerSync(subject: string, schema: AvroSchema): number {
    checkSubject(subject);
    const type = parseSchema(schema, `for subject "${subject}"`);
    const identity = identityOf(type);
    const text = JSON.stringify(schema);
    const tx = this.db.transaction((): number => {
      const existing = this.stmt.idInSubject.get(subject, identity);
      if (existing) return existing.schema_id;
      const versions = this.stmt.versions.all(subject);
      const level = this.levelOf(subject);
      const reason = checkCompatibilityLabeled(level, type, labeled(versions));
      if (reason !== null) throw incompatible(subject, level, reason);
      let id = this.stmt.idByIdentity.get(identity)?.id;
      if (id === undefined) id = Number(this.stmt.insertSchema.run(identity, text).lastInsertRowid);
      const next = versions.length === 0 ? 1 : versions[versions.length - 1].version + 1;
      this.stmt.insertVersion.run(subject, next, id);
      return id;
    });
    return tx.immediate();
  }

  async getById(id: number): Promise<AvroSchema> {
    return this.getByIdSync(id);
  }

  /** Synchronous `getById` (same contract). */
  getByIdSync(id: number): AvroSchema {
    const cached = this.byId.get(id);
    if (cached !== undefined) return cached;
    const row = this.stmt.schemaById.get(id);
    if (!row) throw new UnknownSchemaIdError(id, `local registry ${this.path}`);
    const schema = schemaFromText(row.schema);
    this.byId.set(id, schema);
    return schema;
  }

  async getLatest(subject: string): Promise<RegisteredSchema | undefined> {
    const row = this.stmt.latest.get(subject);
    return row ? this.toRegistered(row) : undefined;
  }

  async getVersion(subject: string, version: number): Promise<RegisteredSchema | undefined> {
    const row = this.stmt.version.get(subject, version);
    return row ? this.toRegistered(row) : undefined;
  }

  async listSubjects(): Promise<string[]> {
    return this.stmt.subjects.all().map((r) => r.subject);
  }

  async listVersions(subject: string): Promise<number[]> {
    return this.stmt.versionNumbers.all(subject).map((r) => r.version);
  }

  async getCompatibility(subject?: string): Promise<CompatibilityLevel> {
    return this.levelOf(subject);
  }

  /** @throws ConfigError on an unknown level or an empty subject. */
  async setCompatibility(level: CompatibilityLevel, subject?: string): Promise<void> {
    if (!COMPATIBILITY_LEVELS.includes(level)) {
      throw new ConfigError(`Unknown compatibility level "${level}". Use one of ${COMPATIBILITY_LEVELS.join(', ')}.`, {
        level,
      });
    }
    if (subject !== undefined) checkSubject(subject);
    this.stmt.setLevel.run(subject ?? GLOBAL, level);
  }

  async testCompatibility(subject: string, schema: AvroSchema): Promise<string | null> {
    checkSubject(subject);
    const type = parseSchema(schema, `for subject "${subject}"`);
    if (this.stmt.idInSubject.get(subject, identityOf(type))) return null;
    return checkCompatibilityLabeled(this.levelOf(subject), type, labeled(this.stmt.versions.all(subject)));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private levelOf(subject?: string): CompatibilityLevel {
    const row = (subject !== undefined ? this.stmt.level.get(subject) : undefined) ?? this.stmt.level.get(GLOBAL);
    return (row?.level as CompatibilityLevel | undefined) ?? DEFAULT_COMPATIBILITY;
  }

  private toRegistered(row: VersionRow): RegisteredSchema {
    let schema = this.byId.get(row.schema_id);
    if (schema === undefined) {
      schema = schemaFromText(row.schema);
      this.byId.set(row.schema_id, schema);
    }
    return { id: row.schema_id, subject: row.subject, version: row.version, schema };
  }
}

function checkSubject(subject: string): void {
  if (typeof subject !== 'string' || subject.length === 0) {
    throw new ConfigError('A schema subject must be a non-empty string (e.g. "flights-value").', { subject });
  }
}

function labeled(rows: readonly VersionRow[]): { schema: AvroSchema; label: string }[] {
  return rows.map((r, i) => ({
    schema: schemaFromText(r.schema),
    label: `version ${r.version} (id ${r.schema_id}${i === rows.length - 1 ? ', latest' : ''})`,
  }));
}
