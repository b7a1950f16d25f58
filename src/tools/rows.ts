/**
 * Rows of `eddy produce`'s input: JSON lines, a JSON array, or CSV with a header line, read into plain objects; and
 * the coercion of a row's fields to an Avro type (CSV fields are text; JSON values are used as they are).
 */
import type { Type } from 'avsc';
import { parse } from 'csv-parse/sync';
import { describeType, describeValue } from '../schema/avro.js';
import { InputFormatError } from './errors.js';

/** Input formats of `eddy produce`. */
export const INPUT_FORMATS = ['jsonl', 'csv', 'json', 'parquet'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** One input row: its number (from 1, data rows only), the line it starts on where known, its fields. */
export interface InputRow {
  readonly row: number;
  readonly line?: number;
  readonly fields: Record<string, unknown>;
  /** True when the fields are text (CSV): numbers, booleans and nulls are read from their text. */
  readonly fromText: boolean;
}

/** The format of a file by its extension (`.csv`, `.json`, `.parquet`, else JSON lines). */
export function formatOf(path: string | undefined): InputFormat {
  if (path?.toLowerCase().endsWith('.parquet')) return 'parquet';
  if (path?.toLowerCase().endsWith('.csv')) return 'csv';
  if (path?.toLowerCase().endsWith('.json')) return 'json';
  return 'jsonl';
}

/**
 * Parses the whole input. JSON lines: one object per non-blank line. JSON: an array of objects (or one object).
 * CSV: a header line naming the fields, then one row per line (RFC 4180 quoting).
 * @throws InputFormatError naming the row (and line) that cannot be parsed or is not an object.
 */
export function parseRows(text: string, format: Exclude<InputFormat, 'parquet'>, source: string): InputRow[] {
  if (format === 'csv') {
    let parsed: { record: Record<string, string>; info: { lines: number } }[];
    try {
      parsed = parse(text, { columns: true, skip_empty_lines: true, info: true, bom: true }) as typeof parsed;
    } catch (err) {
      throw new InputFormatError(source, 'CSV', (err as Error).message);
    }
    return parsed.map((p, i) => ({ row: i + 1, line: p.info.lines, fields: p.record, fromText: true }));
  }
  if (format === 'json') {
    let all: unknown;
    try {
      all = JSON.parse(text);
    } catch (err) {
      throw new InputFormatError(source, 'JSON', (err as Error).message);
    }
    const items = Array.isArray(all) ? all : [all];
    return items.map((fields, i) => ({ row: i + 1, fields: objectAt(fields, source, 'JSON', i + 1), fromText: false }));
  }
  const out: InputRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const row = out.length + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new InputFormatError(source, 'JSON lines', `line ${i + 1}: ${(err as Error).message}`, row);
    }
    out.push({ row, line: i + 1, fields: objectAt(value, source, 'JSON lines', row), fromText: false });
  }
  return out;
}

/**
 * Reads a Parquet file's rows (hyparquet, with its compressors) as objects keyed by column name. Parquet values are
 * typed already (numbers, strings, null); a BigInt (INT64 columns) becomes a number when it is a safe integer,
 * timestamps (Date) become ms since epoch.
 * @throws InputFormatError when the bytes are not a Parquet file.
 */
export async function parseParquetRows(bytes: Buffer, source: string): Promise<InputRow[]> {
  const { parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file, compressors })) as Record<string, unknown>[];
  } catch (err) {
    throw new InputFormatError(source, 'Parquet', (err as Error).message);
  }
  return rows.map((r, i) => {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) fields[k] = parquetValue(v);
    return { row: i + 1, fields, fromText: false };
  });
}

function parquetValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.getTime();
  return v;
}

/**
 * Replaces every field whose value is one of `nullValues` (text as it appears in the input, e.g. `NA`, `""` for the
 * empty string) with null, so that a nullable field reads it as null (`--null-values`). Other fields are kept.
 */
export function withNulls(rows: readonly InputRow[], nullValues: readonly string[]): InputRow[] {
  if (nullValues.length === 0) return [...rows];
  const nulls = new Set(nullValues);
  return rows.map((r) => {
    let fields = r.fields;
    for (const [k, v] of Object.entries(r.fields))
      if (typeof v === 'string' && nulls.has(v)) {
        if (fields === r.fields) fields = { ...r.fields };
        fields[k] = null;
      }
    return fields === r.fields ? r : { ...r, fields };
  });
}

function objectAt(v: unknown, source: string, format: string, row: number): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InputFormatError(source, format, `expected an object, got ${describeValue(v)}`, row);
  return v as Record<string, unknown>;
}

type AnyType = Type & {
  typeName: string;
  types?: Type[];
  fields?: { name: string; type: Type; defaultValue(): unknown }[];
};

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

/**
 * Coerces `v` toward Avro type `type`: a record takes the type's fields from the object (a missing field with a
 * default takes the default); a `long` given an ISO-8601 time (`2001-01-01T08:00:00Z`) takes its ms since epoch (for
 * `timestamp-millis` fields); a union takes null for a missing value, else its first branch that accepts the value.
 * With `fromText` (CSV), text is read as the type asks: numbers, `true`/`false`, the empty string as null where null
 * is allowed, JSON text for arrays, maps and records. Values that cannot be coerced are returned as they are (the
 * schema check then names them).
 */
export function coerce(type: Type, v: unknown, fromText: boolean): unknown {
  const t = type as AnyType;
  if (t.types !== undefined) {
    const hasNull = t.types.some((b) => (b as AnyType).typeName === 'null');
    if (hasNull && (v === undefined || v === null || (fromText && v === ''))) return null;
    for (const b of t.types) {
      if ((b as AnyType).typeName === 'null') continue;
      const c = coerce(b, v, fromText);
      if (b.isValid(c)) return c;
    }
    return v;
  }
  switch (t.typeName) {
    case 'record':
    case 'error': {
      let obj = v;
      if (fromText && typeof v === 'string' && v.trim().startsWith('{')) obj = tryJson(v);
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return v;
      const src = obj as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of t.fields ?? []) {
        const raw = src[f.name];
        out[f.name] =
          raw === undefined || (fromText && raw === '' && f.defaultValue() !== undefined && !acceptsEmpty(f.type))
            ? f.defaultValue()
            : coerce(f.type, raw, fromText);
      }
      return out;
    }
    case 'int':
    case 'long':
      if (typeof v === 'string') {
        if (fromText && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
        if (t.typeName === 'long' && ISO_DATE.test(v)) {
          const ms = Date.parse(v);
          if (!Number.isNaN(ms)) return ms;
        }
      }
      return v;
    case 'float':
    case 'double':
      if (fromText && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      return v;
    case 'boolean':
      if (fromText && typeof v === 'string' && /^(true|false)$/i.test(v.trim()))
        return v.trim().toLowerCase() === 'true';
      return v;
    case 'null':
      return fromText && v === '' ? null : v;
    case 'string':
      return typeof v === 'number' || typeof v === 'bigint' ? String(v) : v;
    case 'array':
    case 'map':
      if (fromText && typeof v === 'string') return tryJson(v);
      return v;
    default:
      return v;
  }
}

function acceptsEmpty(type: Type): boolean {
  return type.isValid('');
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Where a value does not fit `type`: field paths (dotted; `prefix` for the whole value) and what was expected. */
export function problemsOf(type: Type, value: unknown, prefix: string): { field: string; problem: string }[] {
  const out: { field: string; problem: string }[] = [];
  type.isValid(value, {
    errorHook: (path: string[], got: unknown, t: Type) => {
      if (out.length < 5)
        out.push({
          field: path.length > 0 ? path.join('.') : prefix,
          problem: `expects ${describeType(t)} but got ${describeValue(got)}`,
        });
    },
  });
  return out;
}
