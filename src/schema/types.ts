/**
 * Shared types of the schema layer: Avro schemas, compatibility levels and the registry contract that both the
 * local (SQLite) registry and the Confluent-API client implement.
 */

/**
 * A parsed Avro schema (the JSON of an `.avsc` file): a record/enum/array/... object, or a primitive type name such
 * as `"string"` (typical for record keys). Never the JSON *text*; registries parse the text they store.
 */
export type AvroSchema = object | string;

/**
 * Compatibility levels, with Confluent Schema Registry's names and meanings:
 * - `BACKWARD`: the new schema can read data written with the latest registered schema (default).
 * - `FORWARD`: the latest registered schema can read data written with the new schema.
 * - `FULL`: both.
 * - `*_TRANSITIVE`: the same, against every registered version of the subject instead of only the latest.
 * - `NONE`: no check.
 */
export type CompatibilityLevel =
  | 'NONE'
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE';

/** Every compatibility level, for validation of user input. */
export const COMPATIBILITY_LEVELS: readonly CompatibilityLevel[] = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
];

/** The compatibility level of a subject that has none set, and of a registry with no global level. */
export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';

/** One version of a subject. */
export interface RegisteredSchema {
  /** Registry-wide schema id (the 4 bytes after the magic byte in the Confluent wire format). */
  id: number;
  subject: string;
  /** Version within the subject, from 1. */
  version: number;
  schema: AvroSchema;
}

/**
 * A schema registry: subjects hold versions of schemas; every distinct schema has a registry-wide id. Implemented by
 * `LocalSchemaRegistry` (SQLite, embedded mode) and `ConfluentSchemaRegistry` (Confluent REST API, also served by
 * Apicurio Registry's `ccompat` API).
 */
export interface SchemaRegistry {
  /**
   * Registers `schema` under `subject` and returns its id. Returns the existing id if an identical schema is already
   * registered under the subject (local registry: same Avro parsing canonical form and same defaults/aliases, `doc`
   * and formatting ignored; Confluent/Apicurio: the server's rule); otherwise checks compatibility against the
   * subject's versions per its level (default BACKWARD).
   * @throws IncompatibleSchemaError naming the field, the reason and how to fix it.
   * @throws ConfigError when `schema` is not valid Avro.
   */
  register(subject: string, schema: AvroSchema): Promise<number>;
  /**
   * The schema with this registry-wide id.
   * @throws UnknownSchemaIdError (code `UNKNOWN_SCHEMA_ID`) when no schema has this id.
   */
  getById(id: number): Promise<AvroSchema>;
  /** The highest version of `subject`, or undefined when the subject has no versions. */
  getLatest(subject: string): Promise<RegisteredSchema | undefined>;
  /** One version of `subject`, or undefined when it does not exist. */
  getVersion(subject: string, version: number): Promise<RegisteredSchema | undefined>;
  /** All subjects with at least one version, sorted. */
  listSubjects(): Promise<string[]>;
  /** The versions of `subject`, ascending; empty when the subject does not exist. */
  listVersions(subject: string): Promise<number[]>;
  /** The subject's level if it has one set (and `subject` is given), else the global level. */
  getCompatibility(subject?: string): Promise<CompatibilityLevel>;
  /** Sets the subject's level, or the global level when `subject` is omitted. */
  setCompatibility(level: CompatibilityLevel, subject?: string): Promise<void>;
  /** Dry run of `register`'s compatibility check: null if the schema would be accepted, else the reason. */
  testCompatibility(subject: string, schema: AvroSchema): Promise<string | null>;
  /** Releases connections/handles. The registry must not be used afterwards. */
  close(): Promise<void>;
}
