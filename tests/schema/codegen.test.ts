/**
 * `eddy schemas codegen`: the output for a schema directory covering every Avro type kind matches a golden file and
 * compiles; the output is deterministic; `--check` fails on a stale generated file.
 * Re-record the golden file after an intended change: `EDDY_GOLDEN_RECORD=1 npx vitest run tests/schema/codegen.test.ts`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cmdCodegen } from '../../src/cli/schemas.js';
import { codegenFiles, generateTypes } from '../../src/schema/codegen.js';
import { typeErrors } from '../topology/typecheck.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'codegen', 'avsc');
const golden = join(here, 'codegen', 'expected.ts');
const tmp: string[] = [];
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe('schemas codegen', () => {
  it('matches the golden file (records, enums, unions with null, arrays, maps, fixed, logical types)', () => {
    const [file] = codegenFiles(fixtures, '/out');
    expect(file.path).toBe('/out/schemas.ts');
    if (process.env.EDDY_GOLDEN_RECORD === '1') writeFileSync(golden, file.content);
    expect(file.content).toBe(readFileSync(golden, 'utf8'));
    expect(file.content.split('\n')[0]).toContain('GENERATED FILE: do not edit');
    expect(file.content).toContain('  note: string | null;');
    expect(file.content).toContain("export type Status = 'NEW' | 'PAID' | 'SHIPPED';");
    expect(file.content).toContain('timestamp-millis: ms since the epoch. When the order was placed.');
  });

  it('the golden file compiles', () => {
    expect(typeErrors(['tests/schema/codegen/expected.ts'])).toEqual([]);
  });

  it('is deterministic: the same output whatever the order of the inputs', () => {
    const inputs = ['Customer.avsc', 'Order.avsc'].map((f) => ({
      file: `avsc/${f}`,
      schema: JSON.parse(readFileSync(join(fixtures, f), 'utf8')) as object,
    }));
    const a = generateTypes(inputs, 'Types of avsc/*.avsc.');
    const b = generateTypes([...inputs].reverse(), 'Types of avsc/*.avsc.');
    expect(a).toBe(b);
    expect(a).toBe(readFileSync(golden, 'utf8'));
  });

  it('--check fails naming the stale file after an .avsc changes, and passes once regenerated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-codegen-'));
    tmp.push(dir);
    cpSync(fixtures, join(dir, 'avsc'), { recursive: true });
    const opts = { schemas: join(dir, 'avsc'), out: join(dir, 'generated') };
    expect(() => cmdCodegen({ ...opts, check: true })).toThrow(/Generated types are stale.*schemas\.ts/);
    cmdCodegen(opts);
    expect(() => cmdCodegen({ ...opts, check: true })).not.toThrow();
    const customer = JSON.parse(readFileSync(join(dir, 'avsc', 'Customer.avsc'), 'utf8'));
    customer.fields.push({ name: 'vip', type: 'boolean', default: false });
    writeFileSync(join(dir, 'avsc', 'Customer.avsc'), JSON.stringify(customer));
    expect(() => cmdCodegen({ ...opts, check: true })).toThrow(/stale.*Run: eddy schemas codegen/);
  });

  it('refuses a schema that uses a type it does not define', () => {
    expect(() =>
      generateTypes(
        [{ file: 'x.avsc', schema: { type: 'record', name: 'X', fields: [{ name: 'y', type: 'Nope' }] } }],
        '',
      ),
    ).toThrow('x.avsc: type "Nope" is used before it is defined');
  });
});
