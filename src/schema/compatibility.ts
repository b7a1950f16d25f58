/**
 * Schema compatibility, decided by Avro schema resolution (Avro spec, "Schema Resolution"): a reader schema can
 * read data written with a writer schema iff avsc can build a resolver `reader.createResolver(writer)`. On failure,
 * the resolution is walked field by field to say which field is the problem and how to fix it.
 */
import type { Type } from 'avsc';
import { IncompatibleSchemaError } from '../errors.js';
import { describeType, parseSchema } from './avro.js';
import type { AvroSchema, CompatibilityLevel } from './types.js';

/** Why a reader cannot read a writer, located at a field path (`a.b`, `items[]`, `prices{}`; empty = top level). */
export interface ResolutionProblem {
  kind: 'missing-field' | 'type' | 'enum-symbols' | 'name';
  path: string;
  reader: Type;
  writer: Type;
  /** For `missing-field`: the reader field with no default and no writer counterpart. */
  field?: string;
  /** For `enum-symbols`: writer symbols that the reader lacks. */
  symbols?: string[];
  /** avsc's own message. */
  cause: string;
}

type AnyType = Type & {
  fields?: { name: string; type: Type; aliases: string[]; defaultValue(): unknown }[];
  symbols?: string[];
  default?: string;
  types?: Type[];
  itemsType?: Type;
  valuesType?: Type;
  aliases?: string[];
};

function resolveError(reader: Type, writer: Type): Error | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (err) {
    return err as Error;
  }
}

const join = (path: string, name: string): string => (path ? `${path}.${name}` : name);
/** Avro named-type matching: the writer's full name is the reader's full name or one of its aliases. */
const namesMatch = (r: AnyType, w: AnyType): boolean =>
  !w.name || w.name === r.name || (r.aliases ?? []).includes(w.name);

/**
 * Finds why `reader` cannot read data written with `writer`, or returns null when it can.
 * Descends into records, arrays, maps and writer unions to report the innermost failing field.
 */
export function findResolutionProblem(reader: Type, writer: Type, path = ''): ResolutionProblem | null {
  const err = resolveError(reader, writer);
  if (!err) return null;
  const r = reader as AnyType;
  const w = writer as AnyType;
  const problem = (kind: ResolutionProblem['kind'], extra: Partial<ResolutionProblem> = {}): ResolutionProblem => ({
    kind,
    path,
    reader,
    writer,
    cause: err.message,
    ...extra,
  });
  if (w.types) {
    // Writer union: every branch must be readable.
    for (const branch of w.types) {
      const sub = findResolutionProblem(reader, branch, path);
      if (sub) return sub;
    }
  }
  if (r.fields && w.fields) {
    if (!namesMatch(r, w)) return problem('name');
    const writerFields = new Map(w.fields.map((f) => [f.name, f]));
    for (const field of r.fields) {
      const match = [field.name, ...field.aliases].map((n) => writerFields.get(n)).find((f) => f !== undefined);
      if (!match) {
        if (field.defaultValue() === undefined) {
          return problem('missing-field', { path: join(path, field.name), field: field.name });
        }
        continue;
      }
      const sub = findResolutionProblem(field.type, match.type, join(path, field.name));
      if (sub) return sub;
    }
  }
  if (r.itemsType && w.itemsType) {
    const sub = findResolutionProblem(r.itemsType, w.itemsType, `${path}[]`);
    if (sub) return sub;
  }
  if (r.valuesType && w.valuesType) {
    const sub = findResolutionProblem(r.valuesType, w.valuesType, `${path}{}`);
    if (sub) return sub;
  }
  if (r.symbols && w.symbols && r.typeName === 'enum' && w.typeName === 'enum') {
    const symbols = r.symbols;
    const missing = w.symbols.filter((s) => !symbols.includes(s));
    if (missing.length > 0 && r.default === undefined) return problem('enum-symbols', { symbols: missing });
    if (!namesMatch(r, w)) return problem('name');
  }
  return problem('type');
}

/** Roles of the two schemas in a check, for messages: which one is the schema being registered. */
export interface ProblemLabels {
  reader: string;
  writer: string;
  /** True when the reader is the new (candidate) schema: BACKWARD checks; false for FORWARD checks. */
  readerIsNew: boolean;
}

const PROMOTIONS = 'int->long/float/double, long->float/double, float->double, string<->bytes';

/** Renders a problem as "what is wrong. Fix: what to do." */
export function describeProblem(p: ResolutionProblem, labels: ProblemLabels): string {
  const at = p.path ? `field "${p.path}"` : 'the top-level type';
  switch (p.kind) {
    case 'missing-field':
      return labels.readerIsNew
        ? `${at} is in ${labels.reader} without a default but not in ${labels.writer}, so records written with ` +
            `${labels.writer} cannot be read. Fix: give "${p.field}" a default in ${labels.reader} ` +
            `(e.g. "type": ["null", ...], "default": null).`
        : `${at} was removed, but ${labels.reader} requires it (it has no default there), so it cannot read records ` +
            `written with ${labels.writer}. Fix: keep "${p.field}" in ${labels.writer} (its type unchanged).`;
    case 'enum-symbols':
      return (
        `enum ${describeType(p.writer)}${p.path ? ` at ${at}` : ''}: ${labels.writer} has symbol(s) ` +
        `${p.symbols?.join(', ')} that ${labels.reader} lacks, and ${labels.reader}'s enum has no "default". Fix: ` +
        (labels.readerIsNew
          ? `keep those symbols in ${labels.reader}.`
          : `do not add symbols in ${labels.writer}, or first give the enum a "default".`)
      );
    case 'name':
      return (
        `${at} is named "${describeType(p.writer)}" in ${labels.writer} but "${describeType(p.reader)}" in ` +
        `${labels.reader}. Fix: keep the old name` +
        (labels.readerIsNew ? `, or add "aliases": ["${describeType(p.writer)}"] to the renamed type.` : '.')
      );
    default:
      return (
        `${at} is ${describeType(p.writer)} in ${labels.writer} but ${describeType(p.reader)} in ${labels.reader}; ` +
        `Avro schema resolution cannot read ${describeType(p.writer)} as ${describeType(p.reader)} ` +
        `(allowed promotions: ${PROMOTIONS}). Fix: keep the old type` +
        (p.path ? ', or add a field with a new name (with a default) and stop writing the old one.' : '.')
      );
  }
}

/** One registered version to check against, with the label used in messages (e.g. `version 3 (latest)`). */
export interface LabeledSchema {
  schema: AvroSchema;
  label: string;
}

/**
 * `checkCompatibility` with explicit labels for the registered schemas (oldest first), so that messages can name
 * real version numbers.
 * @throws ConfigError when a schema is not valid Avro.
 */
export function checkCompatibilityLabeled(
  level: CompatibilityLevel,
  candidate: AvroSchema | Type,
  existing: readonly LabeledSchema[],
): string | null {
  if (level === 'NONE' || existing.length === 0) return null;
  const cand =
    typeof candidate === 'object' && 'createResolver' in candidate ? candidate : parseSchema(candidate, '(new schema)');
  const against = level.endsWith('_TRANSITIVE') ? [...existing].reverse() : [existing[existing.length - 1]];
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  for (const old of against) {
    const oldType = parseSchema(old.schema, `(registered ${old.label})`);
    if (backward) {
      const p = findResolutionProblem(cand, oldType);
      if (p) return describeProblem(p, { reader: 'the new schema', writer: old.label, readerIsNew: true });
    }
    if (forward) {
      const p = findResolutionProblem(oldType, cand);
      if (p) return describeProblem(p, { reader: old.label, writer: 'the new schema', readerIsNew: false });
    }
  }
  return null;
}

/**
 * Checks `candidate` against the registered schemas of a subject (`existing`, oldest first) under `level`, with
 * Confluent Schema Registry's semantics:
 * - BACKWARD: the candidate (as reader) can read data written with the latest schema;
 * - FORWARD: the latest schema (as reader) can read data written with the candidate;
 * - FULL: both; `*_TRANSITIVE`: against every existing schema, not only the latest; NONE: always compatible.
 * @returns null when compatible, else the reason, naming the field and how to fix it.
 * @throws ConfigError when a schema is not valid Avro.
 */
export function checkCompatibility(
  level: CompatibilityLevel,
  candidate: AvroSchema,
  existing: AvroSchema[],
): string | null {
  const n = existing.length;
  return checkCompatibilityLabeled(
    level,
    candidate,
    existing.map((schema, i) => ({
      schema,
      label: i === n - 1 ? 'the latest registered schema' : `registered schema ${i + 1} of ${n}`,
    })),
  );
}

/** The error `register` throws; shared with the Confluent client. */
export function incompatible(subject: string, level: CompatibilityLevel, reason: string): IncompatibleSchemaError {
  return new IncompatibleSchemaError(
    subject,
    level,
    `${reason} Alternatively, publish the change as a new subject (e.g. a new versioned topic), or change the ` +
      `subject's compatibility level (currently ${level}).`,
  );
}
