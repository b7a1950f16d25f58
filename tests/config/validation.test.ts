/**
 * Validation: every problem is one line naming the key, the bad value, where it came from and the fix; all of them
 * are raised together, before anything is opened or written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigSources, ConfigValidationError, loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { packageRoot } from '../../src/util/paths.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function problems(s: ConfigSources & { file?: unknown; rawFile?: string }): string[] {
  if (s.file !== undefined) writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify(s.file));
  if (s.rawFile !== undefined) writeFileSync(join(dir, 'eddy.config.json'), s.rawFile);
  try {
    loadConfig({ cwd: dir, env: {}, ...s });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG');
    expect((err as Error).message).toBe((err as ConfigValidationError).lines.join('\n'));
    return [...(err as ConfigValidationError).lines];
  }
  throw new Error('expected a ConfigValidationError');
}

const KAFKA_OK = {
  EDDY_BACKEND: 'kafka',
  KAFKA_BROKERS: 'localhost:9092',
  SCHEMA_REGISTRY_URL: 'http://localhost:8081',
};
const FILE = '<file>';

describe('one line per problem: key, bad value, source, fix', () => {
  it.each([
    {
      what: 'brokers that are not host:port',
      s: { env: { ...KAFKA_OK, KAFKA_BROKERS: 'foo' } },
      line: 'kafka.brokers: expected host:port list, e.g. "broker1:9092,broker2:9092", got "foo" (from KAFKA_BROKERS)',
    },
    {
      what: 'a broker without a port, in the file',
      s: {
        file: {
          backend: 'kafka',
          kafka: { brokers: ['ok:9092', 'broker2'] },
          schemaRegistry: { url: 'http://r:8081' },
        },
      },
      line: `kafka.brokers: expected host:port list, e.g. "broker1:9092,broker2:9092", got "broker2" (in ${FILE})`,
    },
    {
      what: 'brokers given as a string in the file',
      s: { file: { kafka: { brokers: 'b1:9092' } } },
      line: `kafka.brokers: expected host:port list, e.g. "broker1:9092,broker2:9092", got "b1:9092" (in ${FILE})`,
    },
    {
      what: 'an unknown backend',
      s: { env: { EDDY_BACKEND: 'kafak' } },
      line: 'backend: expected one of embedded, kafka, got "kafak" (from EDDY_BACKEND)',
    },
    {
      what: 'a port that is not a number',
      s: { env: { EDDY_HTTP_PORT: 'abc' } },
      line: 'http.port: expected an integer from 0 to 65535, got "abc" (from EDDY_HTTP_PORT)',
    },
    {
      what: 'a port out of range, from a flag',
      s: { flags: { '--http-port': '70000' } },
      line: 'http.port: expected an integer from 0 to 65535, got 70000 (from --http-port)',
    },
    {
      what: 'KAFKA_SSL not a boolean',
      s: { env: { KAFKA_SSL: 'yes' } },
      line: 'kafka.ssl: expected true or false, got "yes" (from KAFKA_SSL)',
    },
    {
      what: 'an unknown log level',
      s: { env: { EDDY_LOG_LEVEL: 'verbose' } },
      line: 'logLevel: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose" (from EDDY_LOG_LEVEL)',
    },
    {
      what: 'a registry URL without a scheme',
      s: { env: { ...KAFKA_OK, SCHEMA_REGISTRY_URL: 'localhost:8081' } },
      line: 'schemaRegistry.url: expected an http(s) URL, e.g. "http://localhost:8081", got "localhost:8081" (from SCHEMA_REGISTRY_URL)',
    },
    {
      what: 'a zero batch size',
      s: { flags: { '--max-batch-records': '0' } },
      line: 'worker.maxBatchRecords: expected an integer >= 1, got 0 (from --max-batch-records)',
    },
    {
      what: 'an unknown processing guarantee',
      s: { env: { EDDY_PROCESSING_GUARANTEE: 'exactly-twice' } },
      line: 'worker.processingGuarantee: expected one of exactly-once, at-least-once, got "exactly-twice" (from EDDY_PROCESSING_GUARANTEE)',
    },
    {
      what: 'an unknown processing guarantee, from a flag',
      s: { flags: { '--processing-guarantee': 'at-most-once' } },
      line: 'worker.processingGuarantee: expected one of exactly-once, at-least-once, got "at-most-once" (from --processing-guarantee)',
    },
    {
      what: 'a negative shutdown timeout',
      s: { flags: { '--shutdown-timeout-ms': '-5' } },
      line: 'worker.shutdownTimeoutMs: expected an integer >= 0 (milliseconds), got -5 (from --shutdown-timeout-ms)',
    },
    {
      what: 'an empty data dir in the file',
      s: { file: { dataDir: '' } },
      line: `dataDir: expected a directory path, got "" (in ${FILE})`,
    },
    {
      what: 'a replication factor of 0',
      s: { file: { kafka: { replicationFactor: 0 } } },
      line: `kafka.replicationFactor: expected an integer >= 1, got 0 (in ${FILE})`,
    },
    {
      what: 'a misspelled key, with a suggestion',
      s: { file: { kafka: { broker: ['a:1'] } } },
      line: `kafka.broker: unknown key (in ${FILE}); did you mean brokers? known keys of kafka: brokers, clientId, ssl, sslCaFile, sasl, replicationFactor, sessionTimeoutMs, heartbeatIntervalMs, maxReconnectMs`,
    },
    {
      what: 'an unknown top-level key',
      s: { file: { port: 1 } },
      line: `port: unknown key (in ${FILE}); known keys: dataDir, backend, logLevel, kafka, schemaRegistry, http, topologies, worker`,
    },
    {
      what: 'a topology path that is not a string',
      s: { file: { topologies: { mine: 3 } } },
      line: `topologies.mine: expected a module path, e.g. "dist/my-topology.js", or a list of them (one per version), got 3 (in ${FILE})`,
    },
    {
      what: 'an invalid topology name',
      s: { file: { topologies: { 'my topology': 'x.js' } } },
      line: `topologies: "my topology" is not a valid topology name (in ${FILE}); use letters, digits, '.', '_' and '-', starting with a letter or digit`,
    },
    {
      what: 'a group that is not an object',
      s: { file: { http: 8080 } },
      line: `http: expected an object with keys port, host, token, sqlTimeoutMs, maxConcurrentQueries, maxQueuedQueries, got 8080 (in ${FILE})`,
    },
    {
      what: 'kafka with brokers but no registry',
      s: { env: { EDDY_BACKEND: 'kafka', KAFKA_BROKERS: 'b:9092' } },
      line: 'schemaRegistry.url: required when backend is "kafka" (records are Avro in the Confluent wire format); set SCHEMA_REGISTRY_URL=http://host:8081 or "schemaRegistry": { "url": ... } in eddy.config.json',
    },
    {
      what: 'a registry username without a password',
      s: { env: { SCHEMA_REGISTRY_USERNAME: 'key' } },
      line: 'schemaRegistry.password: required with a registry username; set SCHEMA_REGISTRY_PASSWORD',
    },
    {
      what: 'a wrong-typed secret, without showing it',
      s: { file: { schemaRegistry: { username: 'u', password: 12345 } } },
      line: `schemaRegistry.password: expected a non-empty string, got a number (hidden) (in ${FILE})`,
    },
  ])('$what', ({ s, line }) => {
    const got = problems(s);
    expect(got).toEqual([line.replace(FILE, join(dir, 'eddy.config.json'))]);
  });
});

describe('several problems, several lines', () => {
  it('kafka without brokers and registry names both keys and how to set them', () => {
    expect(problems({ env: { EDDY_BACKEND: 'kafka' } })).toEqual([
      'kafka.brokers: required when backend is "kafka"; set KAFKA_BROKERS=host:port[,host:port...] or "kafka": { "brokers": ["host:port"] } in eddy.config.json',
      'schemaRegistry.url: required when backend is "kafka" (records are Avro in the Confluent wire format); set SCHEMA_REGISTRY_URL=http://host:8081 or "schemaRegistry": { "url": ... } in eddy.config.json',
    ]);
  });

  it('SASL with only a username asks for the mechanism and the password', () => {
    expect(problems({ env: { ...KAFKA_OK, KAFKA_SASL_USERNAME: 'u' } })).toEqual([
      'kafka.sasl.mechanism: required with a SASL username or password; set KAFKA_SASL_MECHANISM=plain (or scram-sha-256, scram-sha-512)',
      'kafka.sasl.password: required with a SASL mechanism; set KAFKA_SASL_PASSWORD',
    ]);
  });

  it('reports every bad key, each once, in schema order', () => {
    const got = problems({
      env: { EDDY_BACKEND: 'nope', EDDY_HTTP_PORT: '-1', KAFKA_SSL: 'maybe' },
      flags: { '--max-batch-records': 'lots' },
    });
    expect(got).toEqual([
      'backend: expected one of embedded, kafka, got "nope" (from EDDY_BACKEND)',
      'kafka.ssl: expected true or false, got "maybe" (from KAFKA_SSL)',
      'http.port: expected an integer from 0 to 65535, got -1 (from EDDY_HTTP_PORT)',
      'worker.maxBatchRecords: expected an integer >= 1, got "lots" (from --max-batch-records)',
    ]);
  });

  it('a flag hides a bad environment value it overrides', () => {
    expect(
      loadConfig({ cwd: dir, env: { EDDY_HTTP_PORT: 'abc' }, flags: { '--http-port': '8080' } }).config.http.port,
    ).toBe(8080);
  });
});

describe('config file problems', () => {
  it('invalid JSON names the file and the fix', () => {
    const [line] = problems({ rawFile: '{ "backend": ' });
    expect(line).toMatch(
      new RegExp(`^${join(dir, 'eddy.config.json').replace(/[.]/g, '\\.')}: not valid JSON \\(.+\\); fix the syntax$`),
    );
  });

  it('a top level that is not an object', () => {
    expect(problems({ rawFile: '["kafka"]' })).toEqual([
      `${join(dir, 'eddy.config.json')}: expected a JSON object at the top level, got ["kafka"]`,
    ]);
  });

  it('--config naming a missing file', () => {
    expect(problems({ configFile: 'missing.json' })).toEqual([
      `--config: file not found: ${join(dir, 'missing.json')}; check the path or drop --config`,
    ]);
  });
});

describe('the CLI stops on bad configuration before writing anything', () => {
  const CLI = join(packageRoot(import.meta.url), 'dist', 'src', 'cli', 'main.js');
  const cleanEnv = () =>
    Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(EDDY_|KAFKA_|SCHEMA_REGISTRY_)/.test(k)));

  it.each([
    ['worker', ['worker', 'flight-delays']],
    ['load', ['load', '--limit', '10', '--no-progress']],
    ['run', ['run', 'flight-delays', '--until-idle']],
  ])('kafka without brokers or registry: eddy %s exits 2 and creates no .eddy', (_name, args) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: { ...cleanEnv(), EDDY_BACKEND: 'kafka' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe(
      'eddy: kafka.brokers: required when backend is "kafka"; set KAFKA_BROKERS=host:port[,host:port...] or "kafka": { "brokers": ["host:port"] } in eddy.config.json\n' +
        'eddy: schemaRegistry.url: required when backend is "kafka" (records are Avro in the Confluent wire format); set SCHEMA_REGISTRY_URL=http://host:8081 or "schemaRegistry": { "url": ... } in eddy.config.json\n',
    );
    expect(r.status).toBe(2);
    expect(existsSync(join(dir, '.eddy'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('kafka with brokers but no registry: exits 2 naming schemaRegistry.url, nothing written', () => {
    const r = spawnSync(process.execPath, [CLI, 'load', '--no-progress'], {
      cwd: dir,
      env: { ...cleanEnv(), EDDY_BACKEND: 'kafka', KAFKA_BROKERS: '127.0.0.1:1' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^eddy: schemaRegistry\.url: required when backend is "kafka"/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
