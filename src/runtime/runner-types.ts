/** The options and status types of `TopologyRunner` (src/runtime/runner.ts). */
import type { Consumer, ConsumerOptions, Log, TopicPartition } from '../log/contract.js';
import type { SchemaRegistry } from '../schema/types.js';
import type { QuarantinedStore } from '../state/task-stores.js';
import type { Topology } from '../topology/graph.js';
import type { ProcessingGuarantee } from './commit.js';
import type { RunStats } from './stats.js';

/** Options of a run. */
export interface RunnerOptions {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  /** Root directory of state stores (default `.eddy/state`). */
  readonly stateDir: string;
  /** Max records per batch (and so per transaction); default 5,000. */
  readonly maxBatchRecords?: number;
  /**
   * Write-cache bound per store of a task, in entries, for the whole runner (Kafka Streams divides
   * `cache.max.bytes.buffering` among its threads the same way): each of the N versions hosted gets 1/N of it, so a
   * second version replaying beside the live one does not double the heap. Default 50,000.
   */
  readonly maxCacheEntries?: number;
  /**
   * Kafka Streams' `processing.guarantee`; default `exactly-once` (one transaction per batch). `at-least-once`
   * appends each batch's records without a transaction, then commits the consumed offsets (`Log.commitOffsets`);
   * a crash in between reprocesses the batch.
   */
  readonly processingGuarantee?: ProcessingGuarantee;
  /**
   * The version numbers the code defines (default: those given), so that a refused fingerprint suggests a version
   * number that is free in the code too.
   */
  readonly knownVersions?: readonly number[];
  /** Counters to keep counting into, per version (a worker restarting its runner keeps its metrics). */
  readonly stats?: (version: number) => RunStats | undefined;
  /** Stop once every input partition is at its end (batch mode); default false (run until `stop()`). */
  readonly untilIdle?: boolean;
  /**
   * The reader group (partition assignment only); default `<topology>` (`readerGroupId`). `eddy replay` uses its own
   * (`replayReaderGroupId`) so that it reads every input partition beside a running worker.
   */
  readonly readerGroupId?: string;
  /** Called after every committed batch (progress bars, metrics), with the stats of the batch's version. */
  readonly onBatch?: (stats: RunStats, batch: BatchInfo) => void;
  /** Called while stores restore, in changelog records. */
  readonly onRestore?: (task: string, store: string, done: number, total: number) => void;
  /** Called when partitions are assigned, with the ids of the tasks created for them (they restore in the background). */
  readonly onAssigned?: (tasks: readonly string[], partitions: readonly TopicPartition[]) => void;
  /** Called for trouble that does not stop processing (a failed purge of a repartition topic). */
  readonly onWarning?: (event: string, message: string) => void;
  /** Called when a store file is quarantined (corrupt, or another store's) and rebuilt; default a line on stderr. */
  readonly onQuarantine?: (q: QuarantinedStore) => void;
  /** Called when a task's stores are restored and it starts processing. */
  readonly onRestored?: (task: string) => void;
  /** Called after revoked partitions' tasks are closed (also on `stop()`, when every partition is revoked). */
  readonly onRevoked?: (tasks: readonly string[], partitions: readonly TopicPartition[]) => void;
  /**
   * How often the runner reads the versions registry to learn that a version it runs was retired (`eddy retire`),
   * ms; default `RETIRED_CHECK_MS` (2 s). Reading `eddy.meta.versions` is cheap (one small compacted partition).
   */
  readonly retiredCheckMs?: number;
  /**
   * The consumer the runner reads its inputs through; default `log.consumer(options)`, a member of the reader group.
   * A version thread reads through its host's shared consumer instead (`threads/port-consumer.ts`).
   */
  readonly consumer?: (options: ConsumerOptions) => Consumer;
}

/** One committed batch, as reported to `onBatch`. */
export interface BatchInfo {
  readonly task: string;
  readonly version: number;
  readonly topic: string;
  readonly partition: number;
  readonly records: number;
  /** Wall time of decode + process + commit, in ms. */
  readonly durationMs: number;
}

/**
 * Where a runner is: `created` -> `setting-up` (topics, schemas, global tables) -> `joining` (consumer started, no
 * assignment handled yet) -> `running` -> `stopping` -> `stopped`; or `failed` when `setup()`/`run()` rejected.
 */
export type RunnerPhase = 'created' | 'setting-up' | 'joining' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A task's restore progress per store (known from the first restored batch of that store). */
export interface StoreRestoreStatus {
  readonly store: string;
  readonly restored: number;
  readonly total: number;
}

/** An assigned task: `restoring` while it opens and its stores catch up with their changelogs, then `running`. */
export interface TaskStatus {
  readonly task: string;
  readonly state: 'restoring' | 'running';
  readonly stores: readonly StoreRestoreStatus[];
}

/** `readiness()`: ready when the runner is running and every assigned task is restored. */
export interface Readiness {
  readonly ready: boolean;
  readonly phase: RunnerPhase;
  readonly tasks: readonly TaskStatus[];
}

/** One version a runner hosts, as its callers read it (`VersionRuntime` in one thread, a version thread's view). */
export interface HostedVersionView {
  readonly topology: Topology;
  readonly stats: RunStats;
  /** The version's fingerprint hash, once set up. */
  readonly fingerprint?: string;
  /** Topics its tasks read: external inputs and its own repartition topics. */
  readonly sourceTopics: readonly string[];
}

/**
 * What a worker, `eddy run` and the run recorder use of a runner: `TopologyRunner` (every version in one thread) or
 * `ThreadedRunner` (`threads/host.ts`, one thread per version).
 */
export interface Runner {
  readonly versions: readonly HostedVersionView[];
  /** The first version given. */
  readonly topology: Topology;
  /** The counters of the first version given. */
  readonly stats: RunStats;
  statsOf(version: number): RunStats | undefined;
  /** Records fetched: all, those of shared inputs by the shared consumer, those of catch-up reads. */
  readonly fetched: { records: number; sharedInputRecords: number; catchUpRecords: number };
  readonly phase: RunnerPhase;
  /** Versions found retired while running (the run stopped because of them). */
  readonly retiredVersions: readonly number[];
  setup(): Promise<void>;
  run(): Promise<RunStats>;
  stop(): Promise<void>;
  readiness(): Readiness;
}
