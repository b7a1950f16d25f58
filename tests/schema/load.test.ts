import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadSchemas } from '../../src/schema/load.js';
import { flightV1 } from './fixtures.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-avsc-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadSchemas', () => {
  it('maps file base names and full record names to the parsed schemas, ignoring other files', () => {
    writeFileSync(join(dir, 'flight.avsc'), JSON.stringify(flightV1, null, 2));
    writeFileSync(join(dir, 'key.avsc'), '"string"');
    writeFileSync(join(dir, 'README.md'), 'not a schema');
    const schemas = loadSchemas(dir);
    expect([...schemas.keys()].sort()).toEqual(['eddy.test.Flight', 'flight', 'key']);
    expect(schemas.get('flight')).toEqual(flightV1);
    expect(schemas.get('eddy.test.Flight')).toEqual(flightV1);
    expect(schemas.get('key')).toBe('string');
  });

  it('names the file on invalid JSON', () => {
    writeFileSync(join(dir, 'good.avsc'), '"long"');
    writeFileSync(join(dir, 'broken.avsc'), '{"type": "record", ');
    const err = configError(() => loadSchemas(dir));
    expect(err.message).toContain(join(dir, 'broken.avsc'));
    expect(err.message).toContain('Invalid JSON');
    expect(err.details.file).toBe(join(dir, 'broken.avsc'));
  });

  it('names the file and the avsc reason on invalid Avro', () => {
    writeFileSync(
      join(dir, 'bad.avsc'),
      JSON.stringify({ type: 'record', name: 'Bad', fields: [{ name: 'x', type: 'integer' }] }),
    );
    const err = configError(() => loadSchemas(dir));
    expect(err.message).toContain(join(dir, 'bad.avsc'));
    expect(err.message).toContain('integer');
  });

  it('rejects two different schemas with the same full name', () => {
    writeFileSync(join(dir, 'a.avsc'), JSON.stringify(flightV1));
    writeFileSync(join(dir, 'b.avsc'), JSON.stringify({ ...flightV1, fields: flightV1.fields.slice(1) }));
    const err = configError(() => loadSchemas(dir));
    expect(err.message).toMatch(/"eddy.test.Flight" is defined differently in .*a\.avsc and .*b\.avsc/);
  });

  it('names a missing directory', () => {
    const missing = join(dir, 'nope');
    expect(configError(() => loadSchemas(missing)).message).toContain(missing);
  });
});
