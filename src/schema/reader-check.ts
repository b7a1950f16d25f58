/**
 * Can a consumer's reader schema read every version its producers registered under a subject? The check eddy runs
 * for the topics it only reads (inputs, global tables), instead of registering there: Avro schema resolution against
 * each registered version (as BACKWARD_TRANSITIVE would, but without registering), and, where the registry has a
 * compatibility endpoint whose level asks the same question (BACKWARD, BACKWARD_TRANSITIVE: the new schema reads
 * the old ones; FULL would also ask the reverse, which a reader need not satisfy), the registry's own verdict too.
 */
import { parseSchema } from './avro.js';
import { describeProblem, findResolutionProblem } from './compatibility.js';
import type { AvroSchema, SchemaRegistry } from './types.js';

/** One registered version the reader cannot read. */
export interface ReaderProblem {
  /** Version number in the subject; undefined for a verdict of the registry's endpoint. */
  version?: number;
  id?: number;
  /** What is wrong, naming the field and the rule, and the fix. */
  reason: string;
}

/**
 * Checks `reader` against every version registered under `subject`. Registers nothing.
 * @returns the problems, empty when every version can be read (also when the subject has no versions).
 * @throws ConfigError when `reader` is not valid Avro; SchemaRegistryError when the registry cannot be reached.
 */
export async function checkReader(
  registry: SchemaRegistry,
  subject: string,
  reader: AvroSchema,
): Promise<ReaderProblem[]> {
  const type = parseSchema(reader, `for subject "${subject}"`);
  const problems: ReaderProblem[] = [];
  const versions = await registry.listVersions(subject);
  for (const v of versions) {
    const r = await registry.getVersion(subject, v);
    if (!r) continue;
    const writer = parseSchema(r.schema, `(subject "${subject}" version ${v})`);
    const p = findResolutionProblem(type, writer);
    if (p) {
      const label = `version ${v} (id ${r.id})`;
      problems.push({
        version: v,
        id: r.id,
        reason: describeProblem(p, { reader: 'the reader schema', writer: label, readerIsNew: true }),
      });
    }
  }
  if (versions.length > 0 && problems.length === 0) {
    const level = await registry.getCompatibility(subject);
    if (level === 'BACKWARD' || level === 'BACKWARD_TRANSITIVE') {
      const verdict = await registry.testCompatibility(subject, reader);
      if (verdict !== null) problems.push({ reason: `the registry's compatibility check (${level}) says: ${verdict}` });
    }
  }
  return problems;
}
