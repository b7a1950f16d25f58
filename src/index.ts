/**
 * eddy's public API: the topology DSL, windows, the runner, the log and registry backends, errors.
 * Everything else is internal (package.json `exports` exposes only this module).
 */

export type { Backend, DataPaths } from './cli/env.js';
// The backend the CLI opens, from the same configuration it reads (eddy.config.json, EDDY_* variables): embedded log
// and local registry, or Kafka and a Confluent-API registry. `openLog(loadConfig().config)`.
export { dataPaths, openBackend as openLog } from './cli/env.js';
export type { ConfigSources, EddyConfig, LoadedConfig } from './config/index.js';
export { ConfigValidationError, loadConfig } from './config/index.js';
export * from './errors.js';
export type * from './log/contract.js';
export { EmbeddedLog } from './log/embedded/index.js';
export { murmur2, partitionFor } from './log/partitioner.js';
export type { AgentContext, AgentFn } from './processors/agent.js';
export type { ErrorPolicy, Rec } from './processors/context.js';
export type { KeyValue } from './processors/stateless.js';
export type { JoinWindows, StreamJoinKind } from './processors/stream-join.js';
export { joinWindows } from './processors/stream-join.js';
export type { WindowedValue, WindowSpec } from './processors/window.js';
export { hopping, tumbling, windowsFor } from './processors/window.js';
export { readStore } from './runtime/inspect.js';
export type { RunnerOptions } from './runtime/runner.js';
export { TopologyRunner } from './runtime/runner.js';
export { RunStats } from './runtime/stats.js';
export { AvroSerde } from './schema/avro-serde.js';
export { ConfluentSchemaRegistry } from './schema/confluent-registry.js';
export { loadSchemas } from './schema/load.js';
export { LocalSchemaRegistry } from './schema/local-registry.js';
export type { AvroSchema, CompatibilityLevel, SchemaRegistry } from './schema/types.js';
export type { KeyValueStore, Window, WindowStore } from './state/stores.js';
export * from './testing/index.js';
export type { GlobalTable, OutputTopic, Schemas, TopologyOptions } from './topology/builder.js';
export {
  GroupedStream,
  Stream,
  Table,
  TopologyBuilder,
  topology,
  WindowedStream,
  WindowedTable,
} from './topology/builder.js';
export { describeMermaid, describeText } from './topology/describe.js';
export type { StoreInfo, Subtopology, TopicInfo, Topology } from './topology/graph.js';
export type {
  EmitStrategy,
  SessionAggregateFns,
  SessionWindowsSpec,
  SlidingWindowsSpec,
} from './topology/session.js';
export { SessionWindowedStream, SlidingWindowedStream, sessionWindows, slidingWindows } from './topology/session.js';
export type { StreamJoinOptions } from './topology/stream-join.js';
