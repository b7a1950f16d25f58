/**
 * eddy's errors are data: one base class with a stable `code`, a `retriable` flag and structured `details`.
 * Messages say what happened and what to do about it (the style of kafkajs `src/errors.js` and
 * quix-streams' `IncompatibleStateStoreError`).
 */
export class EddyError extends Error {
  /** Stable machine-readable code, e.g. `UNKNOWN_TOPIC`. Never reuse a code for another meaning. */
  readonly code: string;
  /** True when retrying the same call later may succeed (a busy database, a broker restart). */
  readonly retriable: boolean;
  /** Structured fields naming the things involved (topic, partition, offset, store, path, ...). */
  readonly details: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { retriable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable ?? false;
    this.details = opts.details ?? {};
  }
}

/** A topic that does not exist was named. Fix: create it (`eddy load`, or run the topology that owns it). */
export class UnknownTopicError extends EddyError {
  constructor(topic: string, known: readonly string[] = []) {
    const hint =
      known.length > 0 ? ` Known topics: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''}.` : '';
    super('UNKNOWN_TOPIC', `Unknown topic "${topic}".${hint} Create it first (e.g. \`eddy load\`) or check the name.`, {
      details: { topic },
    });
  }
}

/** A partition outside `[0, partitions)` was named. */
export class UnknownPartitionError extends EddyError {
  constructor(topic: string, partition: number, partitions: number) {
    super(
      'UNKNOWN_PARTITION',
      `Topic "${topic}" has ${partitions} partition(s) (0..${partitions - 1}); partition ${partition} does not exist.`,
      { details: { topic, partition, partitions } },
    );
  }
}

/** A topic exists with a different shape (partitions, cleanup policy) than was asked for. */
export class TopicMismatchError extends EddyError {
  constructor(topic: string, what: string) {
    super('TOPIC_MISMATCH', `Topic "${topic}" already exists with ${what}. Delete it or use the existing shape.`, {
      details: { topic },
    });
  }
}

/**
 * A newer producer with the same transactional id has started, so this one is a zombie and must stop
 * (Kafka's ProducerFencedException, KIP-98). Not retriable: close the producer and its task.
 */
export class ProducerFencedError extends EddyError {
  constructor(transactionalId: string, epoch: number, currentEpoch: number) {
    super(
      'PRODUCER_FENCED',
      `Producer "${transactionalId}" (epoch ${epoch}) was fenced by a newer instance (epoch ${currentEpoch}); this task must stop.`,
      { details: { transactionalId, epoch, currentEpoch } },
    );
  }
}

/** A consumer-group member acted on partitions it no longer owns (a rebalance happened). Re-join. */
export class RebalanceInProgressError extends EddyError {
  constructor(groupId: string, detail: string) {
    super('REBALANCE_IN_PROGRESS', `Consumer group "${groupId}" rebalanced: ${detail}. Re-join and retry.`, {
      retriable: true,
      details: { groupId },
    });
  }
}

/**
 * A task this member still held was taken over by another member of its group, which has committed past this
 * member's position (Kafka Streams' `TaskMigratedException`). Seen when the coordinator dropped the member (a late
 * heartbeat) while it restored the task: the new owner processed it meanwhile and purged the repartition records
 * below its commit, so this member's position is now below the log start. Nothing is lost; re-join.
 */
export class TaskMigratedError extends EddyError {
  constructor(groupId: string, topic: string, partition: number, position: number, committed: number) {
    super(
      'TASK_MIGRATED',
      `the task reading ${topic}:${partition} moved to another member of group "${groupId}", which committed offset ${committed} while this member still held position ${position}; re-join.`,
      { retriable: true, details: { groupId, topic, partition, position, committed } },
    );
  }
}

/** Bad user configuration or CLI argument; raised before anything is written. */
export class ConfigError extends EddyError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFIG', message, { details });
  }
}

/** A state store that does not exist was named. */
export class UnknownStoreError extends EddyError {
  constructor(store: string, known: readonly string[]) {
    super('UNKNOWN_STORE', `Unknown state store "${store}". Known stores: ${known.join(', ') || '(none)'}.`, {
      details: { store, known },
    });
  }
}

/** Bytes that are not a valid record of the expected schema (bad magic byte, unknown schema id, truncated). */
export class SerdeError extends EddyError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('SERDE', message, { details, cause });
  }
}

/** A schema is not compatible with the registered versions of its subject under the subject's compatibility level. */
export class IncompatibleSchemaError extends EddyError {
  constructor(subject: string, level: string, reason: string) {
    super('INCOMPATIBLE_SCHEMA', `Schema for subject "${subject}" is not ${level}-compatible: ${reason}`, {
      details: { subject, level },
    });
  }
}

/**
 * A call was made in a state that does not allow it: using a transaction after `commit`/`abort`, opening a
 * second transaction on one producer, using a closed producer, consumer or log, running a consumer twice.
 * A programming error, not retriable.
 */
export class InvalidStateError extends EddyError {
  constructor(what: string, details: Record<string, unknown> = {}) {
    super('INVALID_STATE', what, { details });
  }
}

/**
 * The embedded log's SQLite file stayed locked by another connection for longer than the busy timeout
 * (another process holds a long write transaction, e.g. a compaction). Retriable: try again later.
 */
export class LogBusyError extends EddyError {
  constructor(path: string, timeoutMs: number, cause?: unknown) {
    super(
      'LOG_BUSY',
      `The embedded log "${path}" stayed locked by another connection for more than ${timeoutMs} ms. ` +
        'Another process holds a long write transaction; retry later.',
      { retriable: true, details: { path, timeoutMs }, cause },
    );
  }
}

/** No schema has this id in the schema registry. Fix: check the registry URL/file, or re-register the writer schema. */
export class UnknownSchemaIdError extends EddyError {
  constructor(id: number, registry: string) {
    super(
      'UNKNOWN_SCHEMA_ID',
      `Schema id ${id} is not known to the schema registry (${registry}). The record was written with a schema ` +
        'registered elsewhere: point eddy at the registry the producer used.',
      { details: { schemaId: id, registry } },
    );
  }
}

/** A schema registry call failed (HTTP error, unreachable server). Retriable for 5xx/network errors. */
export class SchemaRegistryError extends EddyError {
  constructor(message: string, opts: { retriable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super('SCHEMA_REGISTRY', message, opts);
  }
}

/**
 * A request to Apache Kafka failed (broker unreachable, request timeout, a broker or protocol error); the
 * kafkajs error is the `cause`. `retriable` follows kafkajs (true for network errors and timeouts).
 * After a failed transaction commit the outcome may be unknown (the commit may have been applied): restart
 * the task from the consumer group's committed offsets and restore its state from the changelog.
 */
export class KafkaError extends EddyError {
  constructor(
    operation: string,
    cause: unknown,
    opts: { retriable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('KAFKA', `Kafka ${operation} failed: ${reason}`, {
      retriable: opts.retriable ?? false,
      details: { operation, ...opts.details },
      cause,
    });
  }
}

/**
 * Records were deleted from a partition before eddy read them (time retention, `DeleteRecords`, or a recreated
 * topic): the reader's position is below the partition's log start. eddy never skips ahead silently.
 */
export class RecordsDeletedError extends EddyError {
  constructor(topic: string, partition: number, position: number, logStart: number) {
    super(
      'RECORDS_DELETED',
      `records ${position}..${logStart - 1} of ${topic}:${partition} were deleted before they were read (log start is ${logStart}, position ${position}): ${logStart - position} record(s) lost. Check the topic's retention.ms (eddy needs -1 for event times that may be years old) and replay from the source of truth.`,
      { details: { topic, partition, position, logStart, lost: logStart - position } },
    );
  }
}

/**
 * A state store's SQLite file is damaged: SQLite reported `SQLITE_CORRUPT` or `SQLITE_NOTADB` ("database disk image
 * is malformed", "file is not a database") for an operation on the store. Not retriable in place: the store is a
 * cache of its changelog, so the fix is to move the file aside and rebuild it, which eddy does on the task's next
 * open (the file is marked so that the next open quarantines it under `<stateDir>/quarantine/`).
 */
export class StoreCorruptError extends EddyError {
  constructor(store: string, task: string | undefined, path: string, reason: string, cause?: unknown) {
    super(
      'STORE_CORRUPT',
      `state store "${store}" of task ${task ?? '(unknown)'} is corrupt (${reason}): file ${path}. ` +
        'Restart the task (or the worker): the file is moved to the quarantine folder and the store is rebuilt from its changelog.',
      { details: { store, task, path, reason }, cause },
    );
  }
}

/** errno codes of file-system trouble that retrying at once will not fix: the disk, permissions, a read-only mount. */
const STORAGE_ERRNOS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  EIO: 'an I/O error from the device',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on the system',
};

/** SQLite result codes of the same trouble (better-sqlite3's `SqliteError#code`; extended codes by prefix). */
const STORAGE_SQLITE: readonly (readonly [string, string])[] = [
  ['SQLITE_FULL', 'no space left on the device (SQLITE_FULL)'],
  ['SQLITE_IOERR', 'an I/O error'],
  ['SQLITE_READONLY', 'the file is read-only'],
  ['SQLITE_CANTOPEN', 'the file cannot be opened'],
  ['SQLITE_PERM', 'permission denied'],
];

/**
 * A write or read of eddy's files failed for a reason in the machine, not in the data: a full disk, permissions, a
 * read-only mount, an I/O error. Names the file and what it is (a state store of a task, the embedded log, the
 * quarantine folder) and the fix. Whatever the failed batch wrote was not committed (a store applies its changes only
 * after the commit; the embedded log writes in one transaction), so after the fix a restart resumes exactly.
 */
export class StorageError extends EddyError {
  constructor(what: string, path: string, reason: string, cause?: unknown) {
    const full = /space|quota|FULL/.test(reason);
    const fix = full
      ? `free space on the file system holding it (df -h "${path}"), or move eddy's data directory (dataDir, EDDY_DATA_DIR) to a larger one`
      : "check the file and its folder (owner, permissions, mount) or move eddy's data directory (dataDir, EDDY_DATA_DIR)";
    super(
      full ? 'STORAGE_FULL' : 'STORAGE_ERROR',
      `${what}: ${reason}: ${path}. Fix: ${fix}; nothing is half-written (a batch that failed to commit is not applied, and a restart resumes exactly).`,
      { details: { path, what, reason }, cause },
    );
  }
}

/**
 * The `StorageError` for `err` when it is file-system trouble (an errno such as ENOSPC, EACCES, EROFS, or SQLite's
 * FULL/IOERR/READONLY/CANTOPEN/PERM), naming `what` and `path`; undefined for any other error (rethrow it as it is).
 */
export function storageErrorOf(err: unknown, what: string, path: string): StorageError | undefined {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  const message = err instanceof Error ? err.message : String(err);
  const errno = STORAGE_ERRNOS[code];
  if (errno !== undefined)
    return new StorageError(what, (err as { path?: string }).path ?? path, `${errno} (${code})`, err);
  const sqlite = STORAGE_SQLITE.find(([prefix]) => code.startsWith(prefix));
  if (sqlite !== undefined)
    return new StorageError(what, path, code === 'SQLITE_FULL' ? sqlite[1] : `${sqlite[1]} (${code}: ${message})`, err);
  return undefined;
}
