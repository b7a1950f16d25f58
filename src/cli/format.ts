import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { ConfigError } from '../errors.js';

/** Output formats of `eddy inspect`. */
export const FORMATS = ['table', 'jsonl', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** Parses `--format`; throws ConfigError naming the allowed values. */
export function parseFormat(raw: string): Format {
  if ((FORMATS as readonly string[]).includes(raw)) return raw as Format;
  throw new ConfigError(`--format ${raw} is not one of: ${FORMATS.join(', ')}`);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(2);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Renders rows (objects with the same keys) as an aligned table, JSON lines, or CSV with a header. */
export function formatRows(rows: readonly Record<string, unknown>[], format: Format): string {
  if (format === 'jsonl') return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  if (format === 'csv') return stringify(rows as Record<string, unknown>[], { header: true, columns });
  const t = new Table({ head: columns, style: { head: [], border: [], compact: true } });
  for (const r of rows) t.push(columns.map((c) => cell(r[c])));
  return `${t.toString()}\n`;
}

/** Writes one line to standard output. */
export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
