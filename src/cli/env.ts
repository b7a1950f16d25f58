import { join, resolve } from 'node:path';
import type { EddyConfig, LogLevel } from '../config/index.js';
import type { Log } from '../log/contract.js';
import { EmbeddedLog } from '../log/embedded/index.js';
import type { KafkaLogLine } from '../log/kafka/client.js';
import { ConfluentSchemaRegistry } from '../schema/confluent-registry.js';
import { LocalSchemaRegistry } from '../schema/local-registry.js';
import { RegistryCache, registryCacheDir } from '../schema/registry-cache.js';
import { type RegistryEvent, ResilientRegistry } from '../schema/resilient-registry.js';
import type { SchemaRegistry } from '../schema/types.js';

/** Where eddy keeps its embedded log and state stores. */
export interface DataPaths {
  /** The data directory (`dataDir` of the configuration; default `.eddy`). */
  readonly dataDir: string;
  /** The embedded log and local schema registry: `<dataDir>/log.db`. */
  readonly logPath: string;
  /** State stores: `<dataDir>/state`. */
  readonly stateDir: string;
}

/** The data paths under `dataDir`. */
export function dataPaths(dataDir: string): DataPaths {
  const dir = resolve(dataDir);
  return { dataDir: dir, logPath: join(dir, 'log.db'), stateDir: join(dir, 'state') };
}

/** An open log and schema registry, closed together. */
export interface Backend {
  readonly kind: EddyConfig['backend'];
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly paths: DataPaths;
  close(): Promise<void>;
}

/**
 * Opens the configured backend: the embedded log and the local schema registry (both in `<dataDir>/log.db`), or
 * Apache Kafka (`KafkaLog`) with a Confluent-API schema registry. State stores are local either way
 * (`<dataDir>/state`). The configuration must be validated (`loadConfig`): kafka needs brokers and a registry URL.
 * `kafkaLogSink` receives kafkajs' log lines (the worker turns them into its JSON logs; default: stderr).
 */
export async function openBackend(
  config: EddyConfig,
  opts: {
    kafkaLogSink?: (line: KafkaLogLine) => void;
    /** The embedded log's in-process write lock of another thread's connection (`EmbeddedLogOptions.writeLock`). */
    embeddedWriteLock?: SharedArrayBuffer;
    /**
     * For a worker: the Confluent-API registry rides out outages (`ResilientRegistry`, bounded by
     * `schemaRegistry.maxOutageMs`) with its answers cached under `<dataDir>/state/schemas/`; `onRegistryEvent`
     * hears when it goes down and comes back. Other commands fail at once when the registry cannot be reached.
     */
    worker?: { onRegistryEvent?: (e: RegistryEvent) => void };
  } = {},
): Promise<Backend> {
  const paths = dataPaths(config.dataDir);
  if (config.backend === 'kafka') {
    const k = config.kafka;
    const sr = config.schemaRegistry;
    // Loaded on demand: kafkajs is only needed with the kafka backend.
    const { KafkaLog } = await import('../log/kafka/index.js');
    const log = new KafkaLog({
      brokers: [...(k.brokers ?? [])],
      clientId: k.clientId,
      ssl: k.ssl,
      sslCaFile: k.sslCaFile,
      sasl: k.sasl,
      replicationFactor: k.replicationFactor,
      sessionTimeoutMs: k.sessionTimeoutMs,
      heartbeatIntervalMs: k.heartbeatIntervalMs,
      logLevel: kafkaLogLevel(config.logLevel),
      ...(opts.kafkaLogSink ? { logSink: opts.kafkaLogSink } : {}),
    });
    const plain = new ConfluentSchemaRegistry({
      host: sr.url!,
      auth:
        sr.username !== undefined && sr.password !== undefined
          ? { username: sr.username, password: sr.password }
          : undefined,
      clientId: k.clientId,
    });
    const registry = opts.worker
      ? resilient(plain, paths.stateDir, sr.maxOutageMs ?? 600_000, opts.worker.onRegistryEvent)
      : plain;
    return {
      kind: 'kafka',
      log,
      registry,
      paths,
      async close() {
        await log.close();
        await registry.close();
      },
    };
  }
  const log = new EmbeddedLog(paths.logPath, { writeLock: opts.embeddedWriteLock });
  const registry = LocalSchemaRegistry.open(paths.logPath);
  return {
    kind: 'embedded',
    log,
    registry,
    paths,
    async close() {
      await log.close();
      await registry.close();
    },
  };
}

/** A worker's registry: `inner` behind the outage-riding `ResilientRegistry`, its answers cached under `stateDir`. */
function resilient(
  inner: ConfluentSchemaRegistry,
  stateDir: string,
  maxOutageMs: number,
  onEvent: ((e: RegistryEvent) => void) | undefined,
): ResilientRegistry {
  const cache = new RegistryCache(registryCacheDir(stateDir, inner.host), inner.host, (err) =>
    process.emitWarning(err.message),
  );
  return new ResilientRegistry(inner, { url: inner.host, cache, maxOutageMs, onEvent });
}

/**
 * kafkajs' level for eddy's `logLevel`. kafkajs logs routine retries and rebalances as warnings, and eddy logs its
 * own assignments at info, so `info` keeps kafkajs at `error`; `debug`/`trace` open kafkajs' debug output.
 */
export function kafkaLogLevel(level: LogLevel): 'nothing' | 'error' | 'warn' | 'info' | 'debug' {
  switch (level) {
    case 'silent':
      return 'nothing';
    case 'debug':
    case 'trace':
      return 'debug';
    case 'warn':
      return 'warn';
    default:
      return 'error';
  }
}

/** Opens the configured backend, runs `fn` with it, and closes it (also when `fn` throws). */
export async function withBackend<T>(config: EddyConfig, fn: (b: Backend) => Promise<T>): Promise<T> {
  const b = await openBackend(config);
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}
