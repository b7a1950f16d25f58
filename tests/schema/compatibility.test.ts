import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { checkCompatibility } from '../../src/schema/compatibility.js';
import type { CompatibilityLevel } from '../../src/schema/types.js';
import { flightNoDefault, flightV1, flightV2, flightWithoutDistance } from './fixtures.js';

const withField = (name: string, type: unknown, extra: object = {}) => ({
  ...flightV1,
  fields: flightV1.fields.map((f) => (f.name === name ? { name, type, ...extra } : f)),
});

const delayLong = withField('delay', 'long');
const delayString = withField('delay', 'string');
const distanceWithDefault = withField('distance', 'int', { default: 0 });
const withoutDistance = flightWithoutDistance;

// [change, old schema, new schema, BACKWARD ok, FORWARD ok]
const cases: [string, object, object, boolean, boolean][] = [
  ['identical', flightV1, flightV1, true, true],
  ['add field with default', flightV1, flightV2, true, true],
  ['add field without default', flightV1, flightNoDefault, false, true],
  ['remove field without default', flightV1, withoutDistance, true, false],
  ['remove field that had a default', distanceWithDefault, withoutDistance, true, true],
  ['promote int to long', flightV1, delayLong, true, false],
  ['change int to string', flightV1, delayString, false, false],
];

describe('checkCompatibility', () => {
  for (const [change, old, candidate, backward, forward] of cases) {
    it(`${change}: BACKWARD ${backward ? 'ok' : 'rejected'}, FORWARD ${forward ? 'ok' : 'rejected'}`, () => {
      expect(checkCompatibility('BACKWARD', candidate, [old]) === null).toBe(backward);
      expect(checkCompatibility('FORWARD', candidate, [old]) === null).toBe(forward);
      expect(checkCompatibility('FULL', candidate, [old]) === null).toBe(backward && forward);
      expect(checkCompatibility('NONE', candidate, [old])).toBeNull();
    });
  }

  it('accepts anything for a subject with no versions', () => {
    for (const level of ['BACKWARD', 'FULL_TRANSITIVE'] as CompatibilityLevel[]) {
      expect(checkCompatibility(level, delayString, [])).toBeNull();
    }
  });

  it('checks only the latest version unless transitive', () => {
    const v2 = withField('delay', 'int', { default: 0 });
    // v1 has no `tailNumber`; v2 has it with a default; the candidate requires it (no default).
    const old1 = flightV1;
    const old2 = { ...v2, fields: [...v2.fields, { name: 'tailNumber', type: 'string', default: '' }] };
    expect(checkCompatibility('BACKWARD', flightNoDefault, [old1, old2])).toBeNull();
    const reason = checkCompatibility('BACKWARD_TRANSITIVE', flightNoDefault, [old1, old2]);
    expect(reason).toContain('"tailNumber"');
    expect(reason).toContain('registered schema 1 of 2');
    expect(checkCompatibility('FORWARD_TRANSITIVE', withoutDistance, [distanceWithDefault, flightV1])).toContain(
      '"distance"',
    );
    expect(checkCompatibility('FORWARD', withoutDistance, [flightV1, distanceWithDefault])).toBeNull();
  });

  it('says which field, why, and how to fix a missing default', () => {
    const reason = checkCompatibility('BACKWARD', flightNoDefault, [flightV1]) ?? '';
    expect(reason).toContain('field "tailNumber"');
    expect(reason).toContain('without a default');
    expect(reason).toMatch(/Fix: give "tailNumber" a default/);
  });

  it('says which field was removed under FORWARD', () => {
    const reason = checkCompatibility('FORWARD', withoutDistance, [flightV1]) ?? '';
    expect(reason).toContain('field "distance" was removed');
    expect(reason).toContain('Fix: keep "distance"');
  });

  it('names the type change and the nested path', () => {
    const nested = (type: string) => ({
      type: 'record',
      name: 'Outer',
      fields: [{ name: 'route', type: { type: 'record', name: 'Route', fields: [{ name: 'miles', type }] } }],
    });
    const reason = checkCompatibility('BACKWARD', nested('string'), [nested('int')]) ?? '';
    expect(reason).toContain('field "route.miles" is int in the latest registered schema but string in the new schema');
    expect(reason).toContain('Fix: keep the old type');
  });

  it('handles enums: removed symbols are rejected unless the reader has a default', () => {
    const e = (symbols: string[], extra: object = {}) => ({ type: 'enum', name: 'Cabin', symbols, ...extra });
    const reason = checkCompatibility('BACKWARD', e(['ECONOMY']), [e(['ECONOMY', 'FIRST'])]) ?? '';
    expect(reason).toContain('FIRST');
    expect(
      checkCompatibility('BACKWARD', e(['ECONOMY'], { default: 'ECONOMY' }), [e(['ECONOMY', 'FIRST'])]),
    ).toBeNull();
    expect(checkCompatibility('BACKWARD', e(['ECONOMY', 'FIRST', 'BUSINESS']), [e(['ECONOMY', 'FIRST'])])).toBeNull();
  });

  it('rejects a record rename unless the new schema lists the old name as an alias', () => {
    const renamed = { ...flightV1, name: 'Leg' };
    expect(checkCompatibility('BACKWARD', renamed, [flightV1])).toMatch(/named "eddy.test.Flight".*aliases/);
    expect(checkCompatibility('BACKWARD', { ...renamed, aliases: ['Flight'] }, [flightV1])).toBeNull();
  });

  it('unions: widening to a union is backward compatible, narrowing is not', () => {
    const optional = withField('origin', ['null', 'string'], { default: null });
    expect(checkCompatibility('BACKWARD', optional, [flightV1])).toBeNull();
    expect(checkCompatibility('BACKWARD', flightV1, [optional])).toContain('field "origin"');
  });

  it('throws ConfigError for invalid Avro', () => {
    expect(() => checkCompatibility('BACKWARD', { type: 'record', name: 'X' }, [flightV1])).toThrow(ConfigError);
  });
});
