/**
 * Checks of schemas against the versions registered under their subjects, for `eddy schemas check`: a subject eddy
 * writes is checked as `register` would check it (the subject's compatibility level; the local checker, and the
 * registry's compatibility endpoint on the Confluent API); a subject eddy only reads is checked with `checkReader`
 * (its reader schema can read every registered version). Nothing is registered.
 */
import { identityOf, parseSchema } from './avro.js';
import { checkCompatibilityLabeled } from './compatibility.js';
import { checkReader } from './reader-check.js';
import type { AvroSchema, CompatibilityLevel, SchemaRegistry } from './types.js';

/** Whether eddy writes the subject (registers there) or only reads it. */
export type SubjectUse = 'writes' | 'reads';

/** The verdict on one (subject, schema). */
export interface SubjectVerdict {
  subject: string;
  use: SubjectUse;
  /** The subject's compatibility level (for `reads`: the level, although the check is "reads every version"). */
  level: CompatibilityLevel;
  /** Registered versions of the subject. */
  versions: number;
  /** True when an identical schema is already registered under the subject. */
  registered: boolean;
  /** What is wrong, naming the field and the rule; empty when the schema passes. */
  problems: string[];
}

/**
 * Checks `schema` for `subject`. For `writes`: the local checker under the subject's level, and the registry's own
 * verdict (`testCompatibility`: the endpoint on the Confluent API); a problem from either fails. For `reads`:
 * `checkReader`.
 * @throws ConfigError when the schema is not valid Avro; SchemaRegistryError when the registry cannot be reached.
 */
export async function checkSubject(
  registry: SchemaRegistry,
  subject: string,
  schema: AvroSchema,
  use: SubjectUse,
): Promise<SubjectVerdict> {
  const type = parseSchema(schema, `for subject "${subject}"`);
  const identity = identityOf(type);
  const level = await registry.getCompatibility(subject);
  const numbers = await registry.listVersions(subject);
  const rows = [];
  for (const v of numbers) {
    const r = await registry.getVersion(subject, v);
    if (r) rows.push(r);
  }
  const registered = rows.some((r) => identityOf(parseSchema(r.schema, `(subject "${subject}")`)) === identity);
  const verdict = { subject, use, level, versions: numbers.length, registered, problems: [] as string[] };
  if (use === 'reads') {
    verdict.problems = (await checkReader(registry, subject, schema)).map((p) => p.reason);
    return verdict;
  }
  if (registered) return verdict;
  const local = checkCompatibilityLabeled(
    level,
    type,
    rows.map((r, i) => ({
      schema: r.schema,
      label: `version ${r.version} (id ${r.id}${i === rows.length - 1 ? ', latest' : ''})`,
    })),
  );
  if (local !== null) verdict.problems.push(local);
  const remote = await registry.testCompatibility(subject, schema);
  if (remote !== null && local === null) verdict.problems.push(`the registry says: ${remote}`);
  return verdict;
}
