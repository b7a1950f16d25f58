/** eddy's configuration: one schema (`schema.ts`) that validates (`load.ts`) and documents (`docs.ts`). */

export { DOCS_BEGIN, DOCS_END, renderConfigTable } from './docs.js';
export {
  CONFIG_FILE,
  type ConfigSources,
  ConfigValidationError,
  coerce,
  configDefaults,
  type LoadedConfig,
  loadConfig,
} from './load.js';
export {
  CONFIG_SCHEMA,
  type ConfigLeaf,
  configLeaves,
  type EddyConfig,
  LOG_LEVELS,
  type LogLevel,
  SASL_MECHANISMS,
  type SaslMechanism,
  type SchemaNode,
  schemaAt,
} from './schema.js';
