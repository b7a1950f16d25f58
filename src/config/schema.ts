/**
 * eddy's configuration: ONE JSON schema that validates the merged configuration (ajv) and generates its documentation
 * (`renderConfigTable` in `./docs.ts`, pasted into README.md under "Configuration").
 *
 * Besides standard JSON-schema keywords, leaves carry eddy's own annotations (registered with ajv as
 * annotation-only keywords, so they never change validation):
 * - `x-env`: the environment variable that sets the key;
 * - `x-flag`: the CLI flag that sets the key;
 * - `x-expected`: what a valid value looks like, used in error messages (`expected <x-expected>, got ...`);
 * - `x-required`: how to fix a missing required key;
 * - `x-secret`: the value is redacted when the configuration is printed;
 * - `x-default-doc`: the default as documented when there is no `default` (e.g. "broker default").
 */

/** Log levels (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** SASL mechanisms eddy passes to kafkajs. */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Kafka Streams' `processing.guarantee` values, default first. */
export const PROCESSING_GUARANTEES = ['exactly-once', 'at-least-once'] as const;
export type ProcessingGuaranteeSetting = (typeof PROCESSING_GUARANTEES)[number];

/** The validated configuration. Every key is documented in `CONFIG_SCHEMA` (and README.md, "Configuration"). */
export interface EddyConfig {
  readonly dataDir: string;
  readonly backend: 'embedded' | 'kafka';
  readonly logLevel: LogLevel;
  readonly kafka: {
    readonly brokers?: readonly string[];
    readonly clientId: string;
    readonly ssl: boolean;
    /** Absolute path of a PEM file of CA certificates to trust instead of the system's; implies TLS. */
    readonly sslCaFile?: string;
    readonly sasl?: { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string };
    readonly replicationFactor?: number;
    readonly sessionTimeoutMs?: number;
    readonly heartbeatIntervalMs?: number;
    readonly maxReconnectMs: number;
  };
  readonly schemaRegistry: { readonly url?: string; readonly username?: string; readonly password?: string };
  readonly http: {
    readonly port: number;
    readonly host: string;
    /** Bearer token every endpoint but /health and /ready requires; unset = no authentication. */
    readonly token?: string;
    /** Time limit of one `GET /sql` statement, ms; default 10,000 (`SQL_TIMEOUT_MS_DEFAULT`). */
    readonly sqlTimeoutMs?: number;
    /** Queries (`/sql`, `/stores`) running at once; default 2. */
    readonly maxConcurrentQueries?: number;
    /** Queries waiting for a slot; beyond, 429 with Retry-After; default 32. */
    readonly maxQueuedQueries?: number;
  };
  /** Topology name -> absolute path of a module whose default export returns a Topology. */
  readonly topologies: Readonly<Record<string, string | readonly string[]>>;
  readonly worker: {
    readonly shutdownTimeoutMs: number;
    readonly maxBatchRecords: number;
    readonly processingGuarantee: ProcessingGuaranteeSetting;
    readonly versionThreads: boolean;
  };
}

/** A JSON-schema node as eddy writes them (standard keywords plus the `x-` annotations above). */
export interface SchemaNode {
  type?: 'object' | 'string' | 'integer' | 'boolean' | 'array';
  description?: string;
  default?: unknown;
  enum?: readonly string[];
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: SchemaNode;
  required?: readonly string[];
  dependencies?: Record<string, readonly string[]>;
  allOf?: readonly Record<string, unknown>[];
  oneOf?: readonly SchemaNode[];
  'x-env'?: string;
  'x-flag'?: string;
  'x-expected'?: string;
  'x-required'?: string;
  'x-secret'?: boolean;
  'x-default-doc'?: string;
}

/** The annotation keywords above; ajv must know them (strict mode rejects unknown keywords). */
export const ANNOTATIONS = ['x-env', 'x-flag', 'x-expected', 'x-required', 'x-secret', 'x-default-doc'] as const;

const HOST_PORT = '^[A-Za-z0-9._\\-\\[\\]:]*[A-Za-z0-9\\]]:[0-9]{1,5}$';
const HTTP_URL = '^https?://[^\\s/?#]+(/\\S*)?$';

/** The schema. Object nodes are filled with their children's defaults before validation. */
export const CONFIG_SCHEMA: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dataDir: {
      type: 'string',
      minLength: 1,
      default: '.eddy',
      description:
        'Data directory: the embedded log and local schema registry (`log.db`) and the state stores (`state/`).',
      'x-env': 'EDDY_DATA_DIR',
      'x-flag': '--data-dir',
      'x-expected': 'a directory path',
    },
    backend: {
      type: 'string',
      enum: ['embedded', 'kafka'],
      default: 'embedded',
      description:
        'The log: `embedded` (one SQLite file in the data directory) or `kafka` (Apache Kafka through kafkajs).',
      'x-env': 'EDDY_BACKEND',
      'x-flag': '--backend',
    },
    logLevel: {
      type: 'string',
      enum: LOG_LEVELS,
      default: 'info',
      description: "Level of the worker's JSON logs (and of kafkajs' logs).",
      'x-env': 'EDDY_LOG_LEVEL',
      'x-flag': '--log-level',
    },
    kafka: {
      type: 'object',
      additionalProperties: false,
      description: 'The Kafka backend (used when `backend` is `kafka`).',
      properties: {
        brokers: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', pattern: HOST_PORT },
          description: 'Bootstrap brokers; required with backend `kafka`. In the environment: comma-separated.',
          'x-env': 'KAFKA_BROKERS',
          'x-expected': 'host:port list, e.g. "broker1:9092,broker2:9092"',
          'x-required':
            'required when backend is "kafka"; set KAFKA_BROKERS=host:port[,host:port...] or "kafka": { "brokers": ["host:port"] } in eddy.config.json',
        },
        clientId: {
          type: 'string',
          minLength: 1,
          default: 'eddy',
          description: 'Kafka client id (shows in broker logs and quotas).',
          'x-env': 'KAFKA_CLIENT_ID',
          'x-expected': 'a non-empty string',
        },
        ssl: {
          type: 'boolean',
          default: false,
          description: 'Connect with TLS (system CA certificates, or `kafka.sslCaFile`).',
          'x-env': 'KAFKA_SSL',
          'x-expected': 'true or false',
        },
        sslCaFile: {
          type: 'string',
          minLength: 1,
          description:
            "PEM file of the CA certificate(s) to trust instead of the system's (a private CA); implies TLS. Relative to the config file.",
          'x-env': 'KAFKA_SSL_CA_FILE',
          'x-expected': 'a path to a PEM file',
        },
        sasl: {
          type: 'object',
          additionalProperties: false,
          description: 'SASL authentication; set all three or none.',
          properties: {
            mechanism: {
              type: 'string',
              enum: SASL_MECHANISMS,
              description: 'SASL mechanism.',
              'x-env': 'KAFKA_SASL_MECHANISM',
              'x-required':
                'required with a SASL username or password; set KAFKA_SASL_MECHANISM=plain (or scram-sha-256, scram-sha-512)',
            },
            username: {
              type: 'string',
              minLength: 1,
              description: 'SASL username (Confluent Cloud: the API key).',
              'x-env': 'KAFKA_SASL_USERNAME',
              'x-expected': 'a non-empty string',
              'x-required': 'required with a SASL mechanism; set KAFKA_SASL_USERNAME',
            },
            password: {
              type: 'string',
              minLength: 1,
              description: 'SASL password (Confluent Cloud: the API secret).',
              'x-env': 'KAFKA_SASL_PASSWORD',
              'x-expected': 'a non-empty string',
              'x-required': 'required with a SASL mechanism; set KAFKA_SASL_PASSWORD',
              'x-secret': true,
            },
          },
          dependencies: {
            mechanism: ['username', 'password'],
            username: ['mechanism', 'password'],
            password: ['mechanism', 'username'],
          },
        },
        replicationFactor: {
          type: 'integer',
          minimum: 1,
          description: 'Replication factor of the topics eddy creates (changelogs, repartition, outputs).',
          'x-expected': 'an integer >= 1',
          'x-default-doc': 'broker default',
        },
        sessionTimeoutMs: {
          type: 'integer',
          minimum: 1000,
          description:
            "Consumer group session timeout (ms): a worker silent this long (crashed) loses its partitions to the others. Within the broker's group.min/max.session.timeout.ms.",
          'x-env': 'KAFKA_SESSION_TIMEOUT_MS',
          'x-expected': 'an integer >= 1000 (ms)',
          'x-default-doc': '30000 (kafkajs)',
        },
        heartbeatIntervalMs: {
          type: 'integer',
          minimum: 100,
          description: 'Consumer group heartbeat interval (ms); well below the session timeout (a third is usual).',
          'x-env': 'KAFKA_HEARTBEAT_INTERVAL_MS',
          'x-expected': 'an integer >= 100 (ms)',
          'x-default-doc': '3000 (kafkajs)',
        },
        maxReconnectMs: {
          type: 'integer',
          minimum: 0,
          default: 180_000,
          description:
            'How long `eddy worker` rides out a lost broker (retriable errors, a fenced task): it backs off, recreates its producers and consumer, rejoins and carries on; it exits 1 only when no batch has committed for this long (ms).',
          'x-env': 'KAFKA_MAX_RECONNECT_MS',
          'x-expected': 'an integer >= 0 (ms)',
        },
      },
    },
    schemaRegistry: {
      type: 'object',
      additionalProperties: false,
      description: 'The Confluent-API schema registry (used when `backend` is `kafka`; the embedded log has its own).',
      properties: {
        url: {
          type: 'string',
          pattern: HTTP_URL,
          description:
            'Base URL; required with backend `kafka`. E.g. `http://localhost:8081`, or Apicurio `http://host:8080/apis/ccompat/v7`.',
          'x-env': 'SCHEMA_REGISTRY_URL',
          'x-expected': 'an http(s) URL, e.g. "http://localhost:8081"',
          'x-required':
            'required when backend is "kafka" (records are Avro in the Confluent wire format); set SCHEMA_REGISTRY_URL=http://host:8081 or "schemaRegistry": { "url": ... } in eddy.config.json',
        },
        username: {
          type: 'string',
          minLength: 1,
          description: 'HTTP basic-auth user (Confluent Cloud: the registry API key).',
          'x-env': 'SCHEMA_REGISTRY_USERNAME',
          'x-expected': 'a non-empty string',
          'x-required': 'required with a registry password; set SCHEMA_REGISTRY_USERNAME',
        },
        password: {
          type: 'string',
          minLength: 1,
          description: 'HTTP basic-auth password.',
          'x-env': 'SCHEMA_REGISTRY_PASSWORD',
          'x-expected': 'a non-empty string',
          'x-required': 'required with a registry username; set SCHEMA_REGISTRY_PASSWORD',
          'x-secret': true,
        },
      },
      dependencies: { username: ['password'], password: ['username'] },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      description: "The worker's HTTP server (health, readiness, metrics, store views).",
      properties: {
        port: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          default: 9464,
          description: 'Port of `eddy worker`; 0 picks a free port (logged in the `start` line).',
          'x-env': 'EDDY_HTTP_PORT',
          'x-flag': '--http-port',
          'x-expected': 'an integer from 0 to 65535',
        },
        host: {
          type: 'string',
          minLength: 1,
          default: '127.0.0.1',
          description: 'Address to listen on; `0.0.0.0` for every interface (e.g. in a container).',
          'x-flag': '--http-host',
          'x-expected': 'a host name or IP address',
        },
        token: {
          type: 'string',
          minLength: 16,
          description:
            'When set, every endpoint but `/health` and `/ready` (metrics, stores, SQL) requires `Authorization: Bearer <token>`; 401 otherwise. Compared in constant time, never logged.',
          'x-env': 'EDDY_HTTP_TOKEN',
          'x-expected': 'a string of at least 16 characters (e.g. `openssl rand -hex 32`)',
          'x-secret': true,
        },
        sqlTimeoutMs: {
          type: 'integer',
          minimum: 1,
          'x-default-doc': '`10000`',
          description:
            'Time limit of one `GET /sql` or `/stores` query, counted from its arrival (time waiting for a slot included); past it the statement is stopped and the answer is 408.',
          'x-expected': 'an integer >= 1 (milliseconds)',
        },
        maxConcurrentQueries: {
          type: 'integer',
          minimum: 1,
          'x-default-doc': '`2`',
          description:
            'Queries (`/sql`, `/stores`) that run at once; each `/sql` statement runs in a child process at low CPU priority. Others wait (see `maxQueuedQueries`).',
          'x-expected': 'an integer >= 1',
        },
        maxQueuedQueries: {
          type: 'integer',
          minimum: 0,
          'x-default-doc': '`32`',
          description:
            'Queries that may wait for a slot; beyond this the answer is 429 `QUERY_OVERLOAD` with `Retry-After`, so a query storm cannot starve processing or `/health`.',
          'x-expected': 'an integer >= 0',
        },
      },
    },
    topologies: {
      type: 'object',
      default: {},
      description:
        'Your topologies: name -> path of a module (relative to the config file) whose default export returns a `Topology` or an array of versions, or a list of such paths (one module per version).',
      propertyNames: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', 'x-expected': 'a topology name' },
      additionalProperties: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        ],
        'x-expected': 'a module path, e.g. "dist/my-topology.js", or a list of them (one per version)',
      },
    },
    worker: {
      type: 'object',
      additionalProperties: false,
      description: 'Processing (`eddy worker`, `eddy run`).',
      properties: {
        shutdownTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 30_000,
          description:
            'On SIGTERM/SIGINT the batch in flight commits and stores close within this bound; past it the worker exits with code 1.',
          'x-flag': '--shutdown-timeout-ms',
          'x-expected': 'an integer >= 0 (milliseconds)',
        },
        maxBatchRecords: {
          type: 'integer',
          minimum: 1,
          default: 5_000,
          description: 'Records per batch, and so per transaction.',
          'x-flag': '--max-batch-records',
          'x-expected': 'an integer >= 1',
        },
        processingGuarantee: {
          type: 'string',
          enum: PROCESSING_GUARANTEES,
          default: 'exactly-once',
          description:
            "Kafka Streams' `processing.guarantee`: `exactly-once` commits each batch's outputs, state changes and input offsets in one transaction; `at-least-once` appends them without a transaction, then commits the input offsets (a crash in between reprocesses the batch: duplicates, no loss).",
          'x-env': 'EDDY_PROCESSING_GUARANTEE',
          'x-flag': '--processing-guarantee',
        },
        versionThreads: {
          type: 'boolean',
          default: true,
          description:
            'When a worker or `eddy run` runs several versions of a topology, run each version in its own thread: the input is still fetched once, and the versions process it in parallel on a machine with several cores. `false` runs them all in one thread.',
          'x-env': 'EDDY_VERSION_THREADS',
          'x-expected': 'true or false',
        },
      },
    },
  },
  allOf: [
    {
      if: { type: 'object', properties: { backend: { const: 'kafka' } }, required: ['backend'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON-schema's if/then keyword (a plain schema object, never awaited)
      then: {
        type: 'object',
        properties: {
          kafka: { type: 'object', required: ['brokers'] },
          schemaRegistry: { type: 'object', required: ['url'] },
        },
      },
    },
  ],
};

/** A leaf of the schema with its dotted key. */
export interface ConfigLeaf {
  readonly key: string;
  readonly path: readonly string[];
  readonly schema: SchemaNode;
}

/** Every leaf (non-object node, or a free-form map such as `topologies`), in schema order. */
export function configLeaves(node: SchemaNode = CONFIG_SCHEMA, path: readonly string[] = []): ConfigLeaf[] {
  if (node.type === 'object' && node.properties !== undefined) {
    return Object.entries(node.properties).flatMap(([k, child]) => configLeaves(child, [...path, k]));
  }
  return [{ key: path.join('.'), path, schema: node }];
}

/** The schema node at a path (numeric segments of arrays step into `items`; map entries into `additionalProperties`). */
export function schemaAt(path: readonly string[], node: SchemaNode = CONFIG_SCHEMA): SchemaNode | undefined {
  let cur: SchemaNode | undefined = node;
  for (const seg of path) {
    if (cur === undefined) return undefined;
    if (cur.type === 'array') cur = cur.items;
    else if (cur.properties?.[seg] !== undefined) cur = cur.properties[seg];
    else if (typeof cur.additionalProperties === 'object') cur = cur.additionalProperties;
    else return undefined;
  }
  return cur;
}
