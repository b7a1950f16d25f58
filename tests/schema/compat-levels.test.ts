/**
 * Every compatibility level, including the transitive ones, with the same verdict from eddy's local checker and
 * from the registry (the local registry, and Apicurio's Confluent API: its compatibility endpoint for the levels it
 * answers, and what `register` accepts). The case: versions 1 = {a} and 2 = {b} (registered under NONE), candidate
 * {b, x default 0}: compatible with the latest version both ways, but neither reads nor is read by version 1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { checkSubject } from '../../src/schema/check.js';
import { checkCompatibility } from '../../src/schema/compatibility.js';
import { COMPATIBILITY_LEVELS, type CompatibilityLevel } from '../../src/schema/types.js';
import { registryKinds, registryUrl, uniqueSubject } from './registries.js';

const rec = (fields: object[]) => ({ type: 'record', name: 'R', namespace: 'eddy.test.levels', fields });
const v1 = rec([{ name: 'a', type: 'int' }]);
const v2 = rec([{ name: 'b', type: 'int' }]);
const candidate = rec([
  { name: 'b', type: 'int' },
  { name: 'x', type: 'int', default: 0 },
]);
/** Incompatible with version 2 under every level but NONE: a type change of `b`. */
const retyped = rec([{ name: 'b', type: 'string' }]);

const expected: Record<CompatibilityLevel, boolean> = {
  NONE: true,
  BACKWARD: true,
  FORWARD: true,
  FULL: true,
  BACKWARD_TRANSITIVE: false,
  FORWARD_TRANSITIVE: false,
  FULL_TRANSITIVE: false,
};

/** Apicurio's raw endpoint (latest version only): what the server answers, without eddy's client logic. */
async function endpoint(subject: string, schema: object): Promise<boolean> {
  const res = await fetch(`${registryUrl()}/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  return ((await res.json()) as { is_compatible: boolean }).is_compatible;
}

for (const kind of registryKinds()) {
  describe.skipIf(!kind.available)(`compatibility levels on the ${kind.name} registry`, () => {
    afterAll(() => kind.cleanup());

    for (const level of COMPATIBILITY_LEVELS) {
      it(`${level}: local checker, eddy's check and the registry agree`, async () => {
        const registry = kind.open();
        const subject = uniqueSubject(`levels-${level.toLowerCase()}`);
        await registry.register(subject, v1);
        await registry.setCompatibility('NONE', subject);
        await registry.register(subject, v2);
        await registry.setCompatibility(level, subject);
        expect(await registry.getCompatibility(subject)).toBe(level);

        const local = checkCompatibility(level, candidate, [v1, v2]) === null;
        expect(local).toBe(expected[level]);
        const verdict = await checkSubject(registry, subject, candidate, 'writes');
        expect(verdict.problems.length === 0).toBe(expected[level]);
        if (!expected[level]) expect(verdict.problems.join(' ')).toMatch(/version 1 \(id \d+\)/);
        expect((await registry.testCompatibility(subject, candidate)) === null).toBe(expected[level]);

        const retypedOk = checkCompatibility(level, retyped, [v1, v2]) === null;
        expect(retypedOk).toBe(level === 'NONE');
        const retypedVerdict = await checkSubject(registry, subject, retyped, 'writes');
        expect(retypedVerdict.problems.length === 0).toBe(level === 'NONE');
        if (level !== 'NONE') expect(retypedVerdict.problems.join(' ')).toMatch(/field "b" is (int|string)/);

        if (kind.name === 'apicurio' && !level.endsWith('_TRANSITIVE')) {
          // the server's own endpoint answers for the latest version
          expect(await endpoint(subject, candidate)).toBe(expected[level]);
          expect(await endpoint(subject, retyped)).toBe(level === 'NONE');
        }
        // what the registry enforces
        const accepted = await registry.register(subject, candidate).then(
          () => true,
          (err: Error) => {
            expect(err.message).toContain(`not ${level}-compatible`);
            return false;
          },
        );
        expect(accepted).toBe(expected[level]);
      });
    }
  });
}
