/**
 * The TypeScript shapes in `examples/flight-delays/types.ts` match the `.avsc` files in `schemas/`: the same field
 * names, and compatible types. Each interface gets a sample (checked valid by avsc) and a shape table
 * `{ field: kind }` whose type is derived from the interface, so adding, removing or retyping a field on either
 * side fails: the schema side at run time, the interface side when this file is type-checked (last test).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import type {
  Airport,
  AirportHourDelay,
  DelayStats,
  EnrichedFlight,
  Flight,
} from '../../examples/flight-delays/types.js';
import { typeErrors } from '../topology/typecheck.js';

/** How a TS field type maps to an Avro field type, as a string. */
type Kind<T> = [T] extends [number]
  ? 'number'
  : [T] extends [string]
    ? 'string'
    : [T] extends [string | null]
      ? 'string|null'
      : [T] extends [number | null]
        ? 'number|null'
        : 'unsupported';
/** One kind per field of `T`, no field missing, none extra. */
type Shape<T> = { [P in keyof T]-?: Kind<T[P]> };

const schemasDir = join(dirname(fileURLToPath(import.meta.url)), '../../schemas');

interface AvroField {
  name: string;
  type: unknown;
}

/** The same mapping from the Avro side. */
function avroKind(type: unknown): string {
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    if (rest.length !== 1 || rest.length === type.length) return `unsupported ${JSON.stringify(type)}`;
    return `${avroKind(rest[0])}|null`;
  }
  const name = typeof type === 'object' && type !== null ? (type as { type: string }).type : type;
  if (name === 'int' || name === 'long' || name === 'float' || name === 'double') return 'number';
  if (name === 'string') return 'string';
  return `unsupported ${JSON.stringify(type)}`;
}

function schema(name: string): { name: string; fields: AvroField[] } {
  return JSON.parse(readFileSync(join(schemasDir, `${name}.avsc`), 'utf8'));
}

const stats: DelayStats = { flights: 3, delayed: 1, total_delay: 40, max_delay: 31, avg_delay: 40 / 3 };

const cases = [
  {
    name: 'Flight',
    sample: {
      date: Date.UTC(2001, 0, 1, 6),
      delay: -3,
      distance: 2704,
      origin: 'SFO',
      destination: 'BOS',
    } satisfies Flight as Flight,
    shape: {
      date: 'number',
      delay: 'number',
      distance: 'number',
      origin: 'string',
      destination: 'string',
    } satisfies Shape<Flight>,
  },
  {
    name: 'Airport',
    sample: {
      iata: 'SFO',
      name: 'San Francisco International',
      city: 'San Francisco',
      state: 'CA',
      country: null,
      latitude: 37.619,
      longitude: -122.375,
    } satisfies Airport as Airport,
    shape: {
      iata: 'string',
      name: 'string',
      city: 'string|null',
      state: 'string|null',
      country: 'string|null',
      latitude: 'number',
      longitude: 'number',
    } satisfies Shape<Airport>,
  },
  {
    name: 'EnrichedFlight',
    sample: {
      date: Date.UTC(2001, 0, 1, 6),
      delay: 31,
      distance: 2704,
      origin: 'SFO',
      destination: 'BOS',
      origin_city: 'San Francisco',
      origin_state: 'CA',
      dest_city: null,
      dest_state: null,
    } satisfies EnrichedFlight as EnrichedFlight,
    shape: {
      date: 'number',
      delay: 'number',
      distance: 'number',
      origin: 'string',
      destination: 'string',
      origin_city: 'string|null',
      origin_state: 'string|null',
      dest_city: 'string|null',
      dest_state: 'string|null',
    } satisfies Shape<EnrichedFlight>,
  },
  {
    name: 'DelayStats',
    sample: stats,
    shape: {
      flights: 'number',
      delayed: 'number',
      total_delay: 'number',
      max_delay: 'number',
      avg_delay: 'number',
    } satisfies Shape<DelayStats>,
  },
  {
    name: 'AirportHourDelay',
    sample: {
      airport: 'SFO',
      window_start: Date.UTC(2001, 0, 1, 6),
      window_end: Date.UTC(2001, 0, 1, 7),
      ...stats,
    } satisfies AirportHourDelay as AirportHourDelay,
    shape: {
      airport: 'string',
      window_start: 'number',
      window_end: 'number',
      flights: 'number',
      delayed: 'number',
      total_delay: 'number',
      max_delay: 'number',
      avg_delay: 'number',
    } satisfies Shape<AirportHourDelay>,
  },
] as const;

describe('examples/flight-delays/types.ts matches schemas/*.avsc', () => {
  it('covers every schema file', () => {
    const files = ['Airport', 'AirportHourDelay', 'DelayStats', 'EnrichedFlight', 'Flight'];
    expect(cases.map((c) => c.name).sort()).toEqual(files);
  });

  it.each(cases)('$name: the sample is valid for the schema and has exactly its fields', ({ name, sample }) => {
    const s = schema(name);
    expect(s.name).toBe(name);
    const type = avsc.Type.forSchema(s as avsc.Schema);
    const errors: string[] = [];
    const ok = type.isValid(sample, { errorHook: (path, v) => errors.push(`${path.join('.')}=${JSON.stringify(v)}`) });
    expect(errors).toEqual([]);
    expect(ok).toBe(true);
    expect(Object.keys(sample).sort()).toEqual(s.fields.map((f) => f.name).sort());
    // and it survives the Avro round trip unchanged
    expect({ ...type.fromBuffer(type.toBuffer(sample)) }).toEqual(sample);
  });

  it.each(cases)('$name: field types agree (number/string, nullable or not)', ({ name, shape }) => {
    const s = schema(name);
    expect(shape).toEqual(Object.fromEntries(s.fields.map((f) => [f.name, avroKind(f.type)])));
  });

  it('nullable fields accept null in the schema as in the interface', () => {
    const enriched = cases[2].sample;
    const type = avsc.Type.forSchema(schema('EnrichedFlight') as avsc.Schema);
    expect(type.isValid({ ...enriched, origin_city: null, origin_state: null })).toBe(true);
    expect(type.isValid({ ...enriched, origin: null })).toBe(false);
  });

  it('this file type-checks (the interface side of the comparison)', () => {
    expect(typeErrors(['tests/examples/types.test.ts'])).toEqual([]);
  });
});
