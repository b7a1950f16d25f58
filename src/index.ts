/**
 * eddy's public API: the topology DSL, windows, the runner, the log and registry backends, errors.
 * Everything else is internal (package.json `exports` exposes only this module).
 */
export { topology, TopologyBuilder, Stream, GroupedStream, WindowedStream, Table, WindowedTable } from './topology/builder.js';
export type { Schemas, OutputTopic, GlobalTable, TopologyOptions } from './topology/builder.js';
export type { Topology, StoreInfo, TopicInfo, Subtopology } from './topology/graph.js';
export { describeText, describeMermaid } from './topology/describe.js';
export { tumbling, hopping, windowsFor } from './processors/window.js';
export type { WindowSpec, WindowedValue } from './processors/window.js';
export type { Rec, ErrorPolicy } from './processors/context.js';
export type { KeyValue } from './processors/stateless.js';
export type { AgentFn, AgentContext } from './processors/agent.js';
export type { KeyValueStore, WindowStore, Window } from './state/stores.js';
export { TopologyRunner } from './runtime/runner.js';
export type { RunnerOptions } from './runtime/runner.js';
export { RunStats } from './runtime/stats.js';
export { readStore } from './runtime/inspect.js';
export type * from './log/contract.js';
export { EmbeddedLog } from './log/embedded/index.js';
export { partitionFor, murmur2 } from './log/partitioner.js';
export { AvroSerde } from './schema/avro-serde.js';
export { LocalSchemaRegistry } from './schema/local-registry.js';
export { ConfluentSchemaRegistry } from './schema/confluent-registry.js';
export { loadSchemas } from './schema/load.js';
export type { AvroSchema, SchemaRegistry, CompatibilityLevel } from './schema/types.js';
export * from './errors.js';
export * from './testing/index.js';
// The backend the CLI opens, from the same configuration it reads (eddy.config.json, EDDY_* variables): embedded log
// and local registry, or Kafka and a Confluent-API registry. `openLog(loadConfig().config)`.
export { openBackend as openLog, dataPaths } from './cli/env.js';
export type { Backend, DataPaths } from './cli/env.js';
export { loadConfig, ConfigValidationError } from './config/index.js';
export type { EddyConfig, LoadedConfig, ConfigSources } from './config/index.js';
