/**
 * The one place where eddy turns Avro schemas into avsc types, so that every part of the schema layer parses with
 * the same options.
 */

import { createHash } from 'node:crypto';
import type { Type } from 'avsc';
import avsc from 'avsc';
import { ConfigError } from '../errors.js';
import type { AvroSchema } from './types.js';

/**
 * avsc options used for every schema: no logical-type hooks, so `timestamp-millis` longs stay plain JS numbers
 * (ms since epoch, exact to 2^53) instead of `Date`s; records decode to plain-field objects with no prototype
 * methods (`omitRecordMethods`), so values look like the objects that were serialized.
 */
const parseOptions = () => ({ omitRecordMethods: true }); // fresh each time: avsc stores its name registry in it

/**
 * Parses an Avro schema into an avsc `Type`.
 * @param context appended to the error message, e.g. `for subject "flights-value"` or `in flights.avsc`.
 * @throws ConfigError when the schema is not valid Avro (the avsc message says why).
 */
export function parseSchema(schema: AvroSchema, context = ''): Type {
  try {
    return avsc.Type.forSchema(schema as Parameters<typeof avsc.Type.forSchema>[0], parseOptions());
  } catch (err) {
    const where = context ? ` ${context}` : '';
    throw new ConfigError(`Invalid Avro schema${where}: ${(err as Error).message}.`, { context });
  }
}

/**
 * Hex SHA-256 of the schema's Avro parsing canonical form (Avro spec, "Parsing Canonical Form for Schemas"): equal
 * for schemas that differ only in whitespace, key order, `doc`, `aliases`, defaults and logical-type annotations.
 */
export function fingerprintOf(type: Type): string {
  return type.fingerprint('sha256').toString('hex');
}

/**
 * Hex SHA-256 identifying a schema in a registry: the parsing canonical form plus the attributes that change schema
 * resolution and that the canonical form drops (field defaults, field and type aliases, field order, enum defaults);
 * `doc` and whitespace are ignored. Why not the canonical form alone: adding a default to a field (the first step
 * of removing it under FORWARD compatibility) must register a new version, otherwise the registry would keep the
 * text without the default and reject the later removal.
 */
export function identityOf(type: Type): string {
  const attrs: unknown[] = [];
  const has = (v: unknown): number => (v === undefined ? 0 : 1);
  const seen = new Set<string>();
  const walk = (t: Type): void => {
    const x = t as Type & {
      fields?: { name: string; type: Type; aliases: string[]; order: string; defaultValue(): unknown }[];
      types?: Type[];
      itemsType?: Type;
      valuesType?: Type;
      default?: unknown;
    };
    if (x.name !== undefined) {
      if (seen.has(x.name)) return;
      seen.add(x.name);
      attrs.push([x.name, x.aliases ?? [], has(x.default), x.default ?? null]);
    }
    for (const f of x.fields ?? []) {
      const d = f.defaultValue();
      attrs.push([f.name, f.aliases, f.order, has(d), d ?? null]);
      walk(f.type);
    }
    for (const b of x.types ?? []) walk(b);
    if (x.itemsType) walk(x.itemsType);
    if (x.valuesType) walk(x.valuesType);
  };
  walk(type);
  return createHash('sha256')
    .update(JSON.stringify(type.schema()))
    .update('\n')
    .update(JSON.stringify(attrs))
    .digest('hex');
}

/** Parses schema text as stored by a registry (JSON: an object, or a quoted primitive name like `"string"`). */
export function schemaFromText(text: string): AvroSchema {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed === 'string' || (typeof parsed === 'object' && parsed !== null)) return parsed;
  throw new SyntaxError(`not an Avro schema: ${text.slice(0, 80)}`);
}

/** Short human description of a type for messages: `int`, `com.acme.Flight`, `array<string>`, `null | string`. */
export function describeType(type: Type): string {
  const t = type as Type & { types?: Type[]; itemsType?: Type; valuesType?: Type };
  if (t.types) return t.types.map(describeType).join(' | ');
  if (t.itemsType) return `array<${describeType(t.itemsType)}>`;
  if (t.valuesType) return `map<${describeType(t.valuesType)}>`;
  return t.name ?? t.typeName;
}

/** Short description of a JS value for messages: `"abc" (string)`, `undefined (missing)`, `12.5 (number)`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined (missing)';
  if (value === null) return 'null';
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  const kind = Array.isArray(value) ? 'array' : Buffer.isBuffer(value) ? 'Buffer' : typeof value;
  return `${text} (${kind})`;
}
