/**
 * The kafkajs client of the Kafka backend: options, logging, and the mapping of kafkajs errors to eddy's.
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import type { Kafka, KafkaConfig, LogEntry, logCreator, logLevel } from 'kafkajs';
import { ConfigError, EddyError, KafkaError } from '../../errors.js';
import { KafkaClient, KafkaJsLogLevel } from './kafkajs.js';

/** A kafkajs log line, as handed to a `KafkaLogSink`. */
export interface KafkaLogLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  /** The kafkajs component, e.g. `Consumer`, `Producer`, `Connection`. */
  readonly namespace: string;
  readonly message: string;
  /** kafkajs' structured fields (broker, groupId, error, stack, ...), without `message`/`timestamp`/`logger`. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Where kafkajs log lines go. The default writes one line per entry to stderr. */
export type KafkaLogSink = (line: KafkaLogLine) => void;

/** The default `KafkaLogSink`: `kafkajs <level> [<namespace>] <message> <fields as JSON>` on stderr. */
export const stderrKafkaLogSink: KafkaLogSink = (line) => {
  const fields = Object.keys(line.fields).length > 0 ? ` ${safeJson(line.fields)}` : '';
  process.stderr.write(`kafkajs ${line.level} [${line.namespace}] ${line.message}${fields}\n`);
};

/** Options of `KafkaLog`. Times in ms. */
export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port`. At least one. */
  brokers: string[];
  /** Client id sent to the brokers (shows in broker logs and quotas). Default `eddy`. */
  clientId?: string;
  /** TLS: `true` for default TLS, or Node TLS options (CA, client certificate, ...). Default off. */
  ssl?: boolean | tls.ConnectionOptions;
  /**
   * PEM file of the CA certificate(s) to trust instead of the system's (a private CA, e.g. the test broker of
   * `scripts/kafka-local` in `sasl_ssl` mode). Implies TLS; merged into `ssl` when that is an object.
   */
  sslCaFile?: string;
  /** SASL authentication (use it with `ssl` outside of trusted networks). Default none. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Replication factor of topics this log creates. Default 1. */
  replicationFactor?: number;
  /** Consumer group session timeout (ms): a member silent this long is removed. Default 30,000 (kafkajs). */
  sessionTimeoutMs?: number;
  /** Consumer group heartbeat interval (ms), well below the session timeout. Default 3,000 (kafkajs). */
  heartbeatIntervalMs?: number;
  /**
   * Transaction timeout (ms, Kafka's `transaction.timeout.ms`): the coordinator aborts a transaction open
   * longer than this. Must not exceed the broker's `transaction.max.timeout.ms`. Default 60,000 (kafkajs).
   */
  transactionTimeoutMs?: number;
  /** kafkajs log level. Default `error` (kafkajs logs routine retries and rebalances as warnings). */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** Optional (an addition to the documented shape): where kafkajs log lines go. Default `stderrKafkaLogSink`. */
  logSink?: KafkaLogSink;
}

const LEVELS: Record<NonNullable<KafkaLogOptions['logLevel']>, logLevel> = {
  nothing: KafkaJsLogLevel.NOTHING,
  error: KafkaJsLogLevel.ERROR,
  warn: KafkaJsLogLevel.WARN,
  info: KafkaJsLogLevel.INFO,
  debug: KafkaJsLogLevel.DEBUG,
};

const LEVEL_NAMES: Record<number, KafkaLogLine['level']> = {
  [KafkaJsLogLevel.ERROR]: 'error',
  [KafkaJsLogLevel.WARN]: 'warn',
  [KafkaJsLogLevel.INFO]: 'info',
  [KafkaJsLogLevel.DEBUG]: 'debug',
};

/** kafkajs' message for a refused SASL authentication, e.g. `SASL SCRAM SHA512 authentication failed: ...`. */
const SASL_FAILED = /^SASL \S+( \S+)? authentication failed: /;

/** Messages kafkajs logs for settings eddy chose on purpose; they would only mislead. */
const SUPPRESSED = ['Limiting retries for the idempotent producer'];

function makeLogCreator(sink: KafkaLogSink): logCreator {
  return (configured) =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...fields } = log as { message: string } & Record<string, unknown>;
      if (SUPPRESSED.some((s) => message.startsWith(s))) return;
      // kafkajs' Connection logs every error response at error level, also the routine ones its callers retry
      // (CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, REBALANCE_IN_PROGRESS, ...): failures that matter are thrown.
      let effective = level;
      if (namespace === 'Connection' && message.startsWith('Response ') && level === KafkaJsLogLevel.ERROR) {
        effective = KafkaJsLogLevel.DEBUG;
        if (configured < KafkaJsLogLevel.DEBUG) return;
      }
      // A failed SASL authentication is thrown to the caller (`toEddyError` words it with the fix); kafkajs' own
      // error lines about it (SaslAuthenticator, BrokerPool) would only repeat it.
      if (level === KafkaJsLogLevel.ERROR && SASL_FAILED.test(message)) {
        effective = KafkaJsLogLevel.DEBUG;
        if (configured < KafkaJsLogLevel.DEBUG) return;
      }
      try {
        sink({ level: LEVEL_NAMES[effective] ?? 'info', namespace, message, fields });
      } catch {
        // a failing sink must never break the client
      }
    };
}

/** Creates the kafkajs client for the options (no connection is made yet). */
export function createKafka(opts: KafkaLogOptions): Kafka {
  const config: KafkaConfig = {
    brokers: opts.brokers,
    clientId: opts.clientId ?? 'eddy',
    logLevel: LEVELS[opts.logLevel ?? 'error'],
    logCreator: makeLogCreator(opts.logSink ?? stderrKafkaLogSink),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
  };
  if (opts.ssl !== undefined) config.ssl = opts.ssl;
  if (opts.sslCaFile !== undefined) {
    config.ssl = { ...(typeof opts.ssl === 'object' ? opts.ssl : {}), ca: [readCaFile(opts.sslCaFile)] };
  }
  if (opts.sasl !== undefined) config.sasl = { ...opts.sasl } as KafkaConfig['sasl'];
  return new KafkaClient(config);
}

/** @throws ConfigError naming the file when it cannot be read. */
function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `Cannot read the Kafka TLS CA file ${path} (kafka.sslCaFile): ${(err as Error).message}. Give the path of the CA's PEM file.`,
      { path },
    );
  }
}

interface KafkaJsLikeError {
  name?: string;
  type?: string;
  code?: number | string;
  retriable?: boolean;
  cause?: unknown;
}

/** The kafkajs error chain (the error and its `cause`s), outermost first. */
export function errorChain(err: unknown): KafkaJsLikeError[] {
  const chain: KafkaJsLikeError[] = [];
  let e: unknown = err;
  while (e !== null && typeof e === 'object' && chain.length < 10 && !chain.includes(e as KafkaJsLikeError)) {
    chain.push(e as KafkaJsLikeError);
    e = (e as KafkaJsLikeError).cause;
  }
  return chain;
}

/** True if any error in the chain has this kafkajs protocol error type (e.g. `UNKNOWN_TOPIC_OR_PARTITION`). */
export function hasErrorType(err: unknown, ...types: string[]): boolean {
  return errorChain(err).some((e) => e.type !== undefined && types.includes(e.type));
}

/**
 * True if the broker said a newer producer with the same transactional id exists: `INVALID_PRODUCER_EPOCH`
 * (what kafkajs' old request versions get) or `PRODUCER_FENCED` (error code 90, KIP-588).
 */
export function isFencingError(err: unknown): boolean {
  return errorChain(err).some(
    (e) =>
      e.type === 'INVALID_PRODUCER_EPOCH' ||
      e.type === 'PRODUCER_FENCED' ||
      (e.name === 'KafkaJSProtocolError' && e.code === 90),
  );
}

/** kafkajs errors that mean "the cluster is not reachable right now", whatever their `retriable` flag says. */
const UNAVAILABLE = new Set([
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSLockTimeout',
]);

/** True for errors a retry may cure (the cluster unreachable, timeouts, leader or coordinator moves). */
export function isRetriable(err: unknown): boolean {
  const chain = errorChain(err);
  const root = chain[chain.length - 1];
  return root?.retriable === true || chain.some((e) => e.name !== undefined && UNAVAILABLE.has(e.name));
}

/**
 * Passes eddy errors through; wraps anything else in a `KafkaError` naming the operation. A refused SASL
 * authentication and an untrusted broker certificate are worded with the keys to fix and are not retriable
 * (retrying cannot cure them).
 */
export function toEddyError(err: unknown, operation: string, details: Record<string, unknown> = {}): EddyError {
  if (err instanceof EddyError) return err;
  const security = securityFailure(err);
  if (security !== undefined) return new KafkaError(operation, security, { retriable: false, details });
  return new KafkaError(operation, err, { retriable: isRetriable(err), details });
}

/** Node's TLS verification failures (`err.code` of the socket error), as kafkajs passes them on in messages. */
const UNTRUSTED_CERTIFICATE =
  /self[- ]signed certificate|unable to (get|verify) (the first |local issuer )?certificate|certificate has expired|Hostname\/IP does not match certificate/i;

/** An error with the fix for a refused SASL authentication or an untrusted broker certificate; else undefined. */
function securityFailure(err: unknown): Error | undefined {
  const chain = errorChain(err) as (KafkaJsLikeError & { message?: string })[];
  const sasl = chain.find((e) => e.name === 'KafkaJSSASLAuthenticationError');
  if (sasl !== undefined) {
    const reason = (sasl.message ?? '').replace(SASL_FAILED, '');
    return new Error(
      `SASL authentication failed: ${reason || 'the broker refused the credentials'}. Check kafka.sasl.username, kafka.sasl.password and kafka.sasl.mechanism (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM): the user must exist on the cluster for that mechanism`,
      { cause: err },
    );
  }
  const tls = chain.find((e) => UNTRUSTED_CERTIFICATE.test(e.message ?? ''));
  if (tls !== undefined) {
    return new Error(
      `TLS: the broker's certificate is not trusted (${tls.message}). If the cluster uses a private CA, set kafka.sslCaFile (KAFKA_SSL_CA_FILE) to its PEM file`,
      { cause: err },
    );
  }
  return undefined;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));
  } catch {
    return '[unserializable]';
  }
}

/** The value of `key` in `map`, created with `make` (and stored) if missing. */
export function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
