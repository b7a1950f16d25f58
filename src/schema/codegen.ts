/**
 * TypeScript types from Avro schemas (`eddy schemas codegen`). The types describe values as eddy's serde reads and
 * writes them (avsc, parsed without logical-type hooks, see `parseSchema`):
 *
 * | Avro | TypeScript |
 * |---|---|
 * | `null` | `null` |
 * | `boolean` | `boolean` |
 * | `int`, `long`, `float`, `double` | `number` (a `long` is exact up to 2^53) |
 * | `string` | `string` |
 * | `bytes`, `fixed` | `Buffer` |
 * | record | `interface` |
 * | enum | a union of string literals |
 * | array, map | `T[]`, `Record<string, T>` |
 * | union | `A \| B`; `["null", T]` becomes `T \| null` |
 * | logical types | the underlying type, documented: `timestamp-millis` / `local-timestamp-millis` are ms since the
 *   epoch (`number`, not `Date`), `date` days since the epoch, `time-millis` ms after midnight, `*-micros`
 *   microseconds, `decimal` two's-complement bytes, `uuid` a string |
 *
 * Output is deterministic: files in name order, types in the order they are defined, one definition per full name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { loadSchemas } from './load.js';
import type { AvroSchema } from './types.js';

/** One schema file to generate types from. */
export interface CodegenInput {
  /** The file, as named in messages and in the header (e.g. `schemas/Flight.avsc`). */
  file: string;
  schema: AvroSchema;
}

const PRIMITIVES: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  string: 'string',
  bytes: 'Buffer',
};

const LOGICAL_DOCS: Record<string, string> = {
  'timestamp-millis': 'ms since the epoch',
  'timestamp-micros': 'µs since the epoch',
  'local-timestamp-millis': 'ms since the epoch, local time',
  'local-timestamp-micros': 'µs since the epoch, local time',
  date: 'days since the epoch',
  'time-millis': 'ms after midnight',
  'time-micros': 'µs after midnight',
  decimal: 'two’s-complement big-endian unscaled value',
  uuid: 'a UUID',
  duration: 'months, days, ms as three little-endian uint32',
};

interface Field {
  name: string;
  type: unknown;
  doc?: string;
  default?: unknown;
}

/**
 * Generates one TypeScript module with a type per named Avro type in `inputs`.
 * @param header the first comment line(s) after the generated-file marker, e.g. which command made the file.
 * @throws ConfigError naming the file when a schema uses a type name it does not define, or defines a name twice
 *   differently.
 */
export function generateTypes(inputs: readonly CodegenInput[], header: string): string {
  const out: string[] = [];
  const defined = new Map<string, string>(); // full name -> JSON of the definition
  const sorted = [...inputs].sort((a, b) => a.file.localeCompare(b.file));

  const typeOf = (t: unknown, ns: string | undefined, file: string): string => {
    if (typeof t === 'string') {
      if (PRIMITIVES[t] !== undefined) return PRIMITIVES[t];
      const full = t.includes('.') || ns === undefined ? t : `${ns}.${t}`;
      const known = defined.has(full) ? full : defined.has(t) ? t : undefined;
      if (known === undefined) {
        throw new ConfigError(`${file}: type "${t}" is used before it is defined (or not defined in this file).`, {
          file,
        });
      }
      return shortName(known);
    }
    if (Array.isArray(t)) {
      const branches = t.map((b) => typeOf(b, ns, file));
      const nonNull = branches.filter((b) => b !== 'null');
      return nonNull.length < branches.length ? [...nonNull, 'null'].join(' | ') : branches.join(' | ');
    }
    const o = t as { type: unknown; name?: string; namespace?: string; items?: unknown; values?: unknown };
    switch (o.type) {
      case 'record':
      case 'error':
        return define(o as RecordSchema, ns, file);
      case 'enum':
        return define(o as RecordSchema, ns, file);
      case 'fixed':
        define(o as RecordSchema, ns, file);
        return 'Buffer';
      case 'array':
        return `${wrap(typeOf(o.items, ns, file))}[]`;
      case 'map':
        return `Record<string, ${typeOf(o.values, ns, file)}>`;
      default:
        return typeOf(o.type, ns, file);
    }
  };

  interface RecordSchema {
    type: string;
    name: string;
    namespace?: string;
    doc?: string;
    fields?: Field[];
    symbols?: string[];
  }

  const define = (s: RecordSchema, ns: string | undefined, file: string): string => {
    const space = s.name.includes('.') ? s.name.slice(0, s.name.lastIndexOf('.')) : (s.namespace ?? ns);
    const full = s.name.includes('.') || space === undefined ? s.name : `${space}.${s.name}`;
    const json = JSON.stringify(s);
    const seen = defined.get(full);
    if (seen !== undefined) {
      if (seen !== json) {
        throw new ConfigError(`${file}: type "${full}" is defined differently in another schema file. Rename one.`, {
          file,
        });
      }
      return shortName(full);
    }
    defined.set(full, json);
    const name = shortName(full);
    const lines: string[] = [];
    if (s.type === 'fixed') return name;
    lines.push(...docLines(s.doc ?? `Avro ${s.type} ${full}.`, ''));
    if (s.type === 'enum') {
      lines.push(`export type ${name} = ${(s.symbols ?? []).map((x) => `'${x}'`).join(' | ')};`);
      out.push(lines.join('\n'));
      return name;
    }
    const body: string[] = [];
    for (const f of s.fields ?? []) {
      const ts = typeOf(f.type, space, file);
      const notes = [logicalDoc(f.type), f.doc, f.default !== undefined ? `Default: ${JSON.stringify(f.default)}.` : '']
        .filter((x): x is string => Boolean(x))
        .map((x) => (x.endsWith('.') ? x : `${x}.`))
        .join(' ');
      if (notes) body.push(...docLines(notes, '  '));
      body.push(`  ${f.name}: ${ts};`);
    }
    lines.push(`export interface ${name} {`, ...body, '}');
    out.push(lines.join('\n'));
    return name;
  };

  for (const input of sorted) typeOf(input.schema, undefined, input.file);
  const names = new Map<string, string>();
  for (const full of defined.keys()) {
    const short = shortName(full);
    const other = names.get(short);
    if (other !== undefined) {
      throw new ConfigError(`Types "${other}" and "${full}" would both be named ${short} in TypeScript. Rename one.`);
    }
    names.set(short, full);
  }
  const files = sorted.map((i) => i.file).join(', ');
  return [
    '// GENERATED FILE: do not edit. Change the .avsc files and run `eddy schemas codegen`.',
    ...header.split('\n').map((l) => `// ${l}`.trimEnd()),
    `// Sources: ${files}`,
    '',
    out.join('\n\n'),
    '',
  ].join('\n');
}

const shortName = (full: string): string => full.slice(full.lastIndexOf('.') + 1);
const wrap = (t: string): string => (t.includes(' ') ? `(${t})` : t);

function logicalDoc(t: unknown): string {
  const branches = Array.isArray(t) ? t : [t];
  for (const b of branches) {
    const logical = typeof b === 'object' && b !== null ? (b as { logicalType?: string }).logicalType : undefined;
    if (logical) return `${logical}: ${LOGICAL_DOCS[logical] ?? `Avro logical type ${logical}`}.`;
  }
  return '';
}

function docLines(text: string, indent: string): string[] {
  const clean = text.replace(/\*\//g, '*\\/').trim();
  return [`${indent}/** ${clean.endsWith('.') ? clean : `${clean}.`} */`];
}

/** One generated file. */
export interface GeneratedFile {
  path: string;
  content: string;
}

/**
 * The generated modules for a schema directory: `<outDir>/schemas.ts` from `<schemasDir>/*.avsc`, and
 * `<outDir>/schemas-<sub>.ts` from each sub-directory `<schemasDir>/<sub>/*.avsc` (e.g. the schemas of a topology's
 * version 2). Writes nothing.
 * @throws ConfigError naming the file when a schema file is not valid JSON/Avro.
 */
export function codegenFiles(schemasDir: string, outDir: string): GeneratedFile[] {
  const base = basename(schemasDir);
  const dirs = [
    { dir: schemasDir, module: 'schemas', label: base },
    ...readdirSync(schemasDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()
      .map((sub) => ({ dir: join(schemasDir, sub), module: `schemas-${sub}`, label: `${base}/${sub}` })),
  ];
  const files: GeneratedFile[] = [];
  for (const d of dirs) {
    loadSchemas(d.dir); // validates every file, names the bad one
    const inputs = readdirSync(d.dir)
      .filter((f) => f.endsWith('.avsc'))
      .sort()
      .map((f) => ({
        file: `${d.label}/${f}`,
        schema: JSON.parse(readFileSync(join(d.dir, f), 'utf8')) as AvroSchema,
      }));
    if (inputs.length === 0) continue;
    files.push({ path: join(outDir, `${d.module}.ts`), content: generateTypes(inputs, `Types of ${d.label}/*.avsc.`) });
  }
  return files;
}
