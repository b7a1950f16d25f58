/**
 * kafkajs' runtime values, taken from its CommonJS default export. Node's ESM loader detects only some of
 * kafkajs' named exports (not `ConfigResourceTypes`, for one), while vitest's loader provides all of them:
 * named value imports from 'kafkajs' pass the tests and fail in a real `node` process. Import values from
 * here and types from 'kafkajs' (`import type`).
 */
import kafkajs from 'kafkajs';

/** The kafkajs client class. */
export const KafkaClient = kafkajs.Kafka;
/** kafkajs log levels. */
export const KafkaJsLogLevel = kafkajs.logLevel;
/** kafkajs partitioners (eddy always sets the partition itself). */
export const Partitioners = kafkajs.Partitioners;
/** Encoders of consumer group member metadata and assignments. */
export const AssignerProtocol = kafkajs.AssignerProtocol;
/** DescribeConfigs resource types. */
export const ConfigResourceTypes = kafkajs.ConfigResourceTypes;
