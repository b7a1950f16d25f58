/**
 * The SQL engine of `eddy sql` and `GET /sql`: SQLite itself (better-sqlite3), over an in-memory database into which
 * the tables a query names are materialized, decoded from Avro into typed columns (see `./plan.ts`).
 *
 * Why materialize rather than ATTACH the store files and decode in views with user-defined functions: this build of
 * SQLite allows 10 attached databases (a topology with 4 partitions and 3 stores has 12 files) and no URI file
 * names (so no `mode=ro` attach); and decoding per column in a UDF costs one call into JavaScript per column per row
 * each time a query touches it, where materializing decodes each record once. Measured on the 3M-flight stores, see
 * `bench/sql.ts`. The store files are opened read-only, each with its own connection; queries run with
 * `PRAGMA query_only` and only statements SQLite reports read-only are run.
 */

import type { Type } from 'avsc';
import Database from 'better-sqlite3';
import { EddyError } from '../errors.js';
import { parseSchema } from '../schema/avro.js';
import type { ColumnPlan, DecoderPlan, SqlPlan, TablePlan } from './plan.js';

/** The result of a query. */
export interface SqlResult {
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, unknown>[];
  /** More rows than `maxRows` matched; the rest were not read. */
  readonly truncated: boolean;
}

/** A statement that would write (INSERT, UPDATE, DELETE, CREATE, ATTACH, a PRAGMA that sets...). */
export class SqlReadOnlyError extends EddyError {
  constructor(sql: string) {
    super(
      'SQL_READ_ONLY',
      `eddy sql is read-only: "${sql.length > 80 ? `${sql.slice(0, 80)}...` : sql}" would write. Stores are changed only by their topology (from their changelogs); query them with SELECT`,
      { details: {} },
    );
  }
}

/** SQLite refused the query (syntax, unknown table or column). */
export class SqlQueryError extends EddyError {
  constructor(message: string, tables: readonly string[], cause: unknown) {
    super('SQL_QUERY', `${message}. Tables: ${tables.join(', ') || '(none: run the topology first)'}`, {
      details: { tables: [...tables] },
      cause,
    });
  }
}

/** Decodes wire-format Avro (magic byte, 4-byte schema id, payload) synchronously; raw UTF-8 without writers. */
class Decoder {
  private readonly reader?: Type;
  private readonly resolvers = new Map<number, Parameters<Type['decode']>[2] | undefined>();

  constructor(private readonly p: DecoderPlan) {
    if (Object.keys(p.writers).length === 0) return;
    this.reader = parseSchema(p.reader, `for subject "${p.subject}"`);
    for (const [id, schema] of Object.entries(p.writers)) {
      const writer = parseSchema(schema, `(writer schema id ${id})`);
      try {
        this.resolvers.set(Number(id), this.reader.createResolver(writer));
      } catch {
        // a writer this reader cannot resolve: records written with it fail to decode, naming the id
      }
    }
  }

  decode(buf: Buffer): unknown {
    if (this.reader === undefined) return buf.toString('utf8');
    const id = buf.length >= 5 && buf[0] === 0 ? buf.readInt32BE(1) : undefined;
    if (id === undefined || !this.resolvers.has(id))
      throw new EddyError(
        'SQL_DECODE',
        `a record of subject ${this.p.subject} ${id === undefined ? 'is not in the Confluent wire format' : `was written with schema id ${id}, which the subject's schema cannot read`}`,
        { details: { subject: this.p.subject, schemaId: id } },
      );
    return this.reader.decode(buf, 5, this.resolvers.get(id)).value;
  }
}

/** The statements `eddy sql` runs: queries (SELECT, WITH ... SELECT, VALUES) and EXPLAIN of them. */
const READ_STATEMENT = /^\s*(select|with|values|explain)\b/i;

/** `sql` without its leading comments (`-- ...` lines and `/* ... *\/` blocks). */
function withoutComments(sql: string): string {
  return sql.replace(/^(\s*(--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/))*/, '');
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function toSql(v: unknown, c: ColumnPlan): unknown {
  if (v === null || v === undefined) return null;
  if (c.type === 'JSON') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'object' && !Buffer.isBuffer(v)) return JSON.stringify(v);
  return v;
}

/** A query session over a plan. Not thread-safe; one per thread. `close()` when done. */
export class SqlSession {
  private readonly db = new Database(':memory:');
  private readonly loaded = new Set<TablePlan>();

  constructor(private readonly plan: SqlPlan) {}

  /** The SQL names of every table, sorted. */
  get tableNames(): string[] {
    return this.plan.tables.flatMap((t) => t.names).sort();
  }

  /**
   * Runs one read-only statement and returns at most `maxRows` rows. Throws `SqlReadOnlyError` for a statement that
   * would write, `SqlQueryError` for one SQLite refuses, EddyError `SQL_DECODE` for a record that cannot be decoded.
   */
  query(sql: string, o: { maxRows?: number } = {}): SqlResult {
    const lower = sql.toLowerCase();
    for (const t of this.plan.tables)
      if (!this.loaded.has(t) && t.names.some((n) => lower.includes(n.toLowerCase()))) this.load(t);
    this.db.pragma('query_only = ON');
    let stmt: Database.Statement;
    try {
      stmt = this.db.prepare(sql);
    } catch (err) {
      if (err instanceof RangeError) throw new SqlQueryError(err.message, this.tableNames, err);
      throw new SqlQueryError((err as Error).message, this.tableNames, err);
    }
    // SQLite counts ATTACH, DETACH and PRAGMA as read-only statements (they change no table); eddy does not.
    if (!stmt.readonly || !READ_STATEMENT.test(withoutComments(sql))) throw new SqlReadOnlyError(sql.trim());
    if (!stmt.reader) return { columns: [], rows: [], truncated: false };
    const columns = stmt.columns().map((c) => c.name);
    const rows: Record<string, unknown>[] = [];
    const max = o.maxRows ?? Number.POSITIVE_INFINITY;
    let truncated = false;
    try {
      for (const r of stmt.iterate() as IterableIterator<Record<string, unknown>>) {
        if (rows.length >= max) {
          truncated = true;
          break;
        }
        rows.push(r);
      }
    } catch (err) {
      if (err instanceof EddyError) throw err;
      throw new SqlQueryError((err as Error).message, this.tableNames, err);
    }
    return { columns, rows, truncated };
  }

  /** Materializes a table: decodes every record of its store files (or topic) into a temp table with its columns. */
  private load(t: TablePlan): void {
    this.db.pragma('query_only = OFF');
    const [main, ...aliases] = t.names;
    const decl = t.columns.map((c) => `${ident(c.name)} ${c.type === 'JSON' ? 'TEXT' : c.type}`).join(', ');
    this.db.exec(`CREATE TABLE main.${ident(main)} (${decl})`);
    for (const a of aliases) this.db.exec(`CREATE VIEW main.${ident(a)} AS SELECT * FROM ${ident(main)}`);
    const insert = this.db.prepare(`INSERT INTO ${ident(main)} VALUES (${t.columns.map(() => '?').join(', ')})`);
    const key = new Decoder(t.key);
    const value = new Decoder(t.value);
    const size = t.windowSizeMs ?? 0;
    // one getter per column, chosen once: (key, value, extra) -> the SQL value
    type Extra = { windowStartMs?: number; partition?: number; offset?: number; timestamp?: number };
    const getters = t.columns.map((c): ((k: unknown, v: unknown, x: Extra) => unknown) => {
      const s = c.source;
      switch (s.part) {
        case 'key':
          return (k) => toSql(k, c);
        case 'value': {
          const field = s.field;
          return field === undefined
            ? (_k, v) => toSql(v, c)
            : (_k, v) => toSql((v as Record<string, unknown> | null)?.[field], c);
        }
        case 'window_start':
          return (_k, _v, x) => new Date(x.windowStartMs ?? 0).toISOString();
        case 'window_end':
          return t.windowEndInValue
            ? (_k, v) => new Date(Number((v as { endMs: number }).endMs)).toISOString()
            : (_k, _v, x) => new Date((x.windowStartMs ?? 0) + size).toISOString();
        default: {
          const part = s.part;
          return (_k, _v, x) => x[part] ?? null;
        }
      }
    });
    const row = (k: Buffer | null, v: Buffer, extra: Extra) => {
      const kv = k === null ? null : key.decode(k);
      const vv = value.decode(v);
      return getters.map((g) => g(kv, vv, extra));
    };
    this.db.transaction(() => {
      for (const r of t.records ?? []) insert.run(row(r.key, r.value, r));
      for (const path of t.files) {
        const src = new Database(path, { readonly: true, fileMustExist: true });
        try {
          if (t.kind === 'kv')
            for (const [k, v] of src.prepare('SELECT key, value FROM kv').raw(true).iterate() as IterableIterator<
              [Buffer, Buffer]
            >)
              insert.run(row(k, v, {}));
          else
            for (const [k, ws, v] of src
              .prepare('SELECT key, window_start, value FROM win')
              .raw(true)
              .iterate() as IterableIterator<[Buffer, number, Buffer]>)
              insert.run(row(k, v, { windowStartMs: ws }));
        } finally {
          src.close();
        }
      }
    })();
    this.loaded.add(t);
  }

  close(): void {
    this.db.close();
  }
}
