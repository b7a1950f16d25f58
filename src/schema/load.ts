/** Loading `.avsc` schema files from a directory. */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { identityOf, parseSchema } from './avro.js';
import type { AvroSchema } from './types.js';

/**
 * Reads every `*.avsc` file in `dir` (not recursive) and returns name -> parsed schema JSON. Each schema is
 * registered under its file base name (`flight.avsc` -> `flight`) and, for named types, also under its full name
 * (`com.example.Flight`). Each file must be self-contained (no references to types defined in other files).
 * @throws ConfigError naming the file and the problem: unreadable directory or file, invalid JSON, invalid Avro
 *   (avsc's parse error), or two different schemas claiming the same name.
 */
export function loadSchemas(dir: string): Map<string, AvroSchema> {
  let files: string[];
  try {
    files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.avsc'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new ConfigError(`Cannot read the schema directory "${dir}": ${(err as Error).message}`, { dir });
  }
  const out = new Map<string, AvroSchema>();
  const origin = new Map<string, { file: string; identity: string }>();
  for (const name of files) {
    const file = join(dir, name);
    let schema: AvroSchema;
    try {
      schema = JSON.parse(readFileSync(file, 'utf8')) as AvroSchema;
    } catch (err) {
      throw new ConfigError(`Invalid JSON in schema file ${file}: ${(err as Error).message}`, { file });
    }
    if (typeof schema !== 'string' && (typeof schema !== 'object' || schema === null)) {
      throw new ConfigError(`Invalid Avro schema in ${file}: expected a JSON object, array or type name.`, { file });
    }
    let type: ReturnType<typeof parseSchema>;
    try {
      type = parseSchema(schema, `in ${file}`);
    } catch (err) {
      throw new ConfigError((err as Error).message, { file });
    }
    const identity = identityOf(type);
    const keys = [basename(name, '.avsc')];
    if (type.name !== undefined && type.name !== keys[0]) keys.push(type.name);
    for (const key of keys) {
      const seen = origin.get(key);
      if (seen && seen.identity !== identity) {
        throw new ConfigError(
          `Schema name "${key}" is defined differently in ${seen.file} and ${file}. Rename one of them.`,
          { file, other: seen.file, name: key },
        );
      }
      origin.set(key, { file, identity });
      out.set(key, schema);
    }
  }
  return out;
}
