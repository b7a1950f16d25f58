/** The schema layer: Avro serde in the Confluent wire format, schema registries (local SQLite, Confluent API), compatibility. */
export { AvroSerde, HEADER_SIZE, MAGIC_BYTE } from './avro-serde.js';
export { checkCompatibility } from './compatibility.js';
export { type ConfluentRegistryOptions, ConfluentSchemaRegistry } from './confluent-registry.js';
export { loadSchemas } from './load.js';
export { LocalSchemaRegistry } from './local-registry.js';
export {
  type AvroSchema,
  COMPATIBILITY_LEVELS,
  type CompatibilityLevel,
  DEFAULT_COMPATIBILITY,
  type RegisteredSchema,
  type SchemaRegistry,
} from './types.js';
