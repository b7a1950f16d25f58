/**
 * Messages between a runner that hosts versions in threads (`host.ts`, the host) and one version thread
 * (`version-thread.ts`). The host owns the reader group's consumer; each thread runs one version's `TopologyRunner`
 * reading through a `PortConsumer` that the host feeds.
 */
import type { EddyConfig } from '../../config/index.js';
import { EddyError } from '../../errors.js';
import type { TopicPartition, TopicPartitionOffset } from '../../log/contract.js';
import type { KafkaLogLine } from '../../log/kafka/client.js';
import type { QuarantinedStore } from '../../state/task-stores.js';
import type { BatchInfo, Readiness } from '../runner-types.js';
import type { RunCounters } from '../stats.js';
import type { PackedBatch } from './wire.js';

/** Where the version threads load their code and open their connections. */
export interface ThreadsOptions {
  /** The configuration the threads open the log and registry with (`openBackend`): the one the host's log came from. */
  readonly config: EddyConfig;
  /** The topology's name as `loadVersions` knows it (built in, or in `config.topologies`). */
  readonly topology: string;
  /** Receives the kafkajs log lines of the threads' Kafka clients (default: stderr, as `openBackend`). */
  readonly kafkaLogSink?: (line: KafkaLogLine) => void;
}

/** What a version thread is started with (`workerData`). */
export interface ThreadInit {
  /** The configuration the thread opens its own log and registry connections with (`openBackend`). */
  readonly config: EddyConfig;
  /** The topology name, as known to `loadVersions` (built-in, or registered in `config.topologies`). */
  readonly topology: string;
  readonly version: number;
  /** The fingerprint the host computed for this version: a thread whose code builds another one refuses to run. */
  readonly fingerprint: string;
  readonly knownVersions: readonly number[];
  readonly maxBatchRecords: number;
  readonly maxCacheEntries: number;
  readonly processingGuarantee: 'exactly-once' | 'at-least-once';
  readonly retiredCheckMs?: number;
  /** Send kafkajs' log lines to the host (`ThreadsOptions.kafkaLogSink`) instead of the thread's stderr. */
  readonly forwardKafkaLog: boolean;
  /** The host's embedded log write lock (`EmbeddedLogOptions.writeLock`); undefined on Kafka. */
  readonly writeLock?: SharedArrayBuffer;
  /**
   * The thread reads its own repartition topics itself (`direct-read.ts`) and the host never fetches them: on the
   * embedded log.
   */
  readonly directReads: boolean;
  /** State directory (default the configuration's `<dataDir>/state`). */
  readonly stateDir?: string;
}

/** A batch for a thread: the records packed once for all threads. */
export interface ThreadBatch {
  readonly packed: PackedBatch;
  readonly highWatermark: number;
}

/** Host -> thread requests; each gets a `reply` with the same id. */
export type HostCall =
  | { readonly op: 'check' }
  | { readonly op: 'create' }
  | { readonly op: 'assigned'; readonly partitions: readonly TopicPartition[] }
  | { readonly op: 'revoked'; readonly partitions: readonly TopicPartition[] }
  | { readonly op: 'batch'; readonly batch: ThreadBatch }
  /** The host resumed a shared input partition at `offset` (the furthest position of its readers). */
  | { readonly op: 'started'; readonly topic: string; readonly partition: number; readonly offset: number }
  /** Is the version idle (`TopologyRunner.idleNow`)? Replies `IdleReply`. */
  | { readonly op: 'idle' };

/** A thread's answer to `idle`: idle or not, and its commits so far (a later round with more commits is not idle). */
export interface IdleReply {
  readonly idle: boolean;
  readonly commits: number;
}

/** Host -> thread. */
export type HostMessage =
  | { readonly t: 'call'; readonly id: number; readonly call: HostCall }
  | { readonly t: 'run' }
  /** Stop; `idle`: as an `untilIdle` run ends (`TopologyRunner.endIdle`). */
  | { readonly t: 'stop'; readonly idle?: boolean };

/** Thread -> host. */
export type ThreadMessage =
  | { readonly t: 'reply'; readonly id: number; readonly error?: WireError; readonly value?: IdleReply }
  | { readonly t: 'resume'; readonly positions: readonly TopicPartitionOffset[] }
  | { readonly t: 'pause'; readonly partitions: readonly TopicPartition[] }
  | { readonly t: 'batch'; readonly info: BatchInfo }
  | {
      readonly t: 'restore';
      readonly task: string;
      readonly store: string;
      readonly done: number;
      readonly total: number;
    }
  | { readonly t: 'warning'; readonly event: string; readonly message: string }
  | { readonly t: 'quarantine'; readonly q: QuarantinedStore }
  | { readonly t: 'assigned'; readonly tasks: readonly string[]; readonly partitions: readonly TopicPartition[] }
  | { readonly t: 'revoked'; readonly tasks: readonly string[]; readonly partitions: readonly TopicPartition[] }
  | { readonly t: 'restored'; readonly task: string }
  | { readonly t: 'kafka-log'; readonly line: KafkaLogLine }
  | {
      readonly t: 'status';
      readonly stats: RunCounters;
      readonly readiness: Readiness;
      readonly catchUpRecords: number;
      /** Records of its repartition topics read by the thread itself (`DirectReads`). */
      readonly directRecords: number;
    }
  | { readonly t: 'done'; readonly error?: WireError; readonly retired: readonly number[] };

/** An error as it crosses a thread boundary: an `EddyError` keeps its code, retriable flag and details. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  readonly code?: string;
  readonly retriable?: boolean;
  readonly details?: Record<string, unknown>;
}

/** The wire form of a thrown value. */
export function toWire(err: unknown): WireError {
  if (err instanceof EddyError)
    return {
      name: err.name,
      message: err.message,
      stack: err.stack,
      code: err.code,
      retriable: err.retriable,
      details: JSON.parse(JSON.stringify(err.details ?? {})) as Record<string, unknown>,
    };
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

/** The error again on this side: an `EddyError` (same code, name, message) or an `Error`. */
export function fromWire(w: WireError): Error {
  const err =
    w.code !== undefined
      ? new EddyError(w.code, w.message, { retriable: w.retriable, details: w.details })
      : new Error(w.message);
  err.name = w.name;
  if (w.stack !== undefined) err.stack = w.stack;
  return err;
}
