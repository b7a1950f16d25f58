/**
 * The flight-delays types are generated from the `.avsc` files (`eddy schemas codegen`, src/generated), not written
 * by hand: the generated files are up to date with `schemas/` and `schemas/v2/` (this fails when an `.avsc` file
 * changes without `eddy schemas codegen`), the example imports them, and samples typed with them are valid records
 * of the schemas (including the v2 fields and what v1 records read as under v2).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as V1 from '../../src/generated/schemas.js';
import type * as V2 from '../../src/generated/schemas-v2.js';
import { parseSchema } from '../../src/schema/avro.js';
import { codegenFiles } from '../../src/schema/codegen.js';
import { loadSchemas } from '../../src/schema/load.js';
import { typeErrors } from '../topology/typecheck.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const v1 = loadSchemas(join(root, 'schemas'));
const v2 = loadSchemas(join(root, 'schemas', 'v2'));

const flight: V1.Flight = {
  date: Date.UTC(2001, 0, 1, 6),
  delay: 15,
  distance: 2704,
  origin: 'SFO',
  destination: 'BOS',
};
const flightV2: V2.Flight = { ...flight, source_row: 42 };
const statsV2: V2.DelayStats = {
  flights: 2,
  delayed: 2,
  total_delay: 75,
  max_delay: 60,
  avg_delay: 37.5,
  delayed_60: 1,
  share_delayed_60: 0.5,
};

describe('flight-delays types are generated from schemas/', () => {
  it('src/generated is up to date with schemas/*.avsc and schemas/v2/*.avsc (run `eddy schemas codegen`)', () => {
    const files = codegenFiles(join(root, 'schemas'), join(root, 'src', 'generated'));
    expect(files.map((f) => f.path.slice(root.length + 1)).sort()).toEqual([
      'src/generated/schemas-v2.ts',
      'src/generated/schemas.ts',
    ]);
    for (const f of files) expect(readFileSync(f.path, 'utf8'), `${f.path} is stale`).toBe(f.content);
  });

  it('the example uses the generated types, not hand-written ones', () => {
    const topology = readFileSync(join(root, 'examples/flight-delays/topology.ts'), 'utf8');
    expect(topology).toContain("from '../../src/generated/schemas.js'");
    expect(topology).toContain("from '../../src/generated/schemas-v2.js'");
    expect(readFileSync(join(root, 'examples/flight-delays/types.ts'), 'utf8')).not.toMatch(/interface /);
  });

  it('samples typed with the generated types are valid records; v1 flights read under v2 with the default', () => {
    expect(parseSchema(v1.get('Flight')!).isValid(flight)).toBe(true);
    expect(parseSchema(v2.get('Flight')!).isValid(flightV2)).toBe(true);
    expect(parseSchema(v2.get('DelayStats')!).isValid(statsV2)).toBe(true);
    const w = parseSchema(v1.get('Flight')!);
    const r = parseSchema(v2.get('Flight')!);
    expect({ ...r.fromBuffer(w.toBuffer(flight), r.createResolver(w)) }).toEqual({ ...flight, source_row: null });
  });

  it('this file type-checks against the generated modules', () => {
    expect(typeErrors(['tests/examples/types.test.ts'])).toEqual([]);
  });
});
