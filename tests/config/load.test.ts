/**
 * Configuration sources and their precedence: defaults < config file < environment < CLI flags.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigSources, loadConfig } from '../../src/config/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(content: unknown, name = 'eddy.config.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

const load = (s: ConfigSources = {}) => loadConfig({ cwd: dir, env: {}, ...s });

describe('defaults', () => {
  it('come from the schema when nothing is set', () => {
    const { config, file, origins } = load();
    expect(config).toEqual({
      dataDir: join(dir, '.eddy'),
      backend: 'embedded',
      logLevel: 'info',
      kafka: { clientId: 'eddy', ssl: false, maxReconnectMs: 180_000 },
      schemaRegistry: { maxOutageMs: 600_000 },
      http: { port: 9464, host: '127.0.0.1' },
      topologies: {},
      worker: {
        shutdownTimeoutMs: 30_000,
        maxBatchRecords: 5_000,
        processingGuarantee: 'exactly-once',
        versionThreads: true,
      },
    });
    expect(file).toBeUndefined();
    expect(origins.size).toBe(0);
  });
});

describe('precedence: defaults < file < environment < flags', () => {
  const file = { http: { port: 1111 }, dataDir: 'from-file', logLevel: 'warn', worker: { maxBatchRecords: 10 } };
  const env = { EDDY_HTTP_PORT: '2222', EDDY_DATA_DIR: 'from-env' };
  const flags = { '--http-port': '3333' };

  it.each([
    { layers: 'defaults', useFile: false, useEnv: false, useFlags: false, port: 9464, origin: undefined },
    { layers: 'defaults + file', useFile: true, useEnv: false, useFlags: false, port: 1111, origin: 'file' },
    {
      layers: 'defaults + file + env',
      useFile: true,
      useEnv: true,
      useFlags: false,
      port: 2222,
      origin: 'env EDDY_HTTP_PORT',
    },
    {
      layers: 'defaults + file + env + flags',
      useFile: true,
      useEnv: true,
      useFlags: true,
      port: 3333,
      origin: 'flag --http-port',
    },
    {
      layers: 'defaults + env',
      useFile: false,
      useEnv: true,
      useFlags: false,
      port: 2222,
      origin: 'env EDDY_HTTP_PORT',
    },
    {
      layers: 'defaults + file + flags',
      useFile: true,
      useEnv: false,
      useFlags: true,
      port: 3333,
      origin: 'flag --http-port',
    },
  ])('http.port with $layers is $port', ({ useFile, useEnv, useFlags, port, origin }) => {
    const path = useFile ? writeConfig(file) : undefined;
    const got = load({ env: useEnv ? env : {}, flags: useFlags ? flags : {} });
    expect(got.config.http.port).toBe(port);
    expect(got.origins.get('http.port')).toBe(origin === 'file' ? `file ${path}` : origin);
  });

  it('each key takes the highest source that sets it; the others fall through', () => {
    const path = writeConfig(file);
    const { config, origins, file: read } = load({ env, flags });
    expect(read).toBe(path);
    expect(config.http.port).toBe(3333); // flag over env over file
    expect(config.dataDir).toBe(join(dir, 'from-env')); // env over file
    expect(config.logLevel).toBe('warn'); // file over default
    expect(config.worker.maxBatchRecords).toBe(10); // file over default
    expect(config.worker.shutdownTimeoutMs).toBe(30_000); // default
    expect(config.http.host).toBe('127.0.0.1'); // default, its sibling set by a flag
    expect(Object.fromEntries(origins)).toEqual({
      'http.port': 'flag --http-port',
      dataDir: 'env EDDY_DATA_DIR',
      logLevel: `file ${path}`,
      'worker.maxBatchRecords': `file ${path}`,
    });
  });

  it('--data-dir beats EDDY_DATA_DIR, which beats the file', () => {
    writeConfig({ dataDir: 'a' });
    expect(load().config.dataDir).toBe(join(dir, 'a'));
    expect(load({ env: { EDDY_DATA_DIR: 'b' } }).config.dataDir).toBe(join(dir, 'b'));
    expect(load({ env: { EDDY_DATA_DIR: 'b' }, flags: { '--data-dir': '/abs/c' } }).config.dataDir).toBe('/abs/c');
  });

  it('an empty environment variable counts as unset', () => {
    writeConfig({ http: { port: 1111 } });
    expect(load({ env: { EDDY_HTTP_PORT: '' } }).config.http.port).toBe(1111);
  });
});

describe('environment variables', () => {
  it('set every Kafka and registry key, converted to the schema types', () => {
    const { config } = load({
      env: {
        EDDY_BACKEND: 'kafka',
        KAFKA_BROKERS: 'b1:9092, b2:9093,',
        KAFKA_CLIENT_ID: 'my-app',
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'user',
        KAFKA_SASL_PASSWORD: 'pass',
        KAFKA_MAX_RECONNECT_MS: '60000',
        SCHEMA_REGISTRY_URL: 'https://registry.example.com:8081',
        SCHEMA_REGISTRY_USERNAME: 'key',
        SCHEMA_REGISTRY_PASSWORD: 'secret',
        SCHEMA_REGISTRY_MAX_OUTAGE_MS: '120000',
        EDDY_HTTP_PORT: '0',
        EDDY_LOG_LEVEL: 'debug',
        EDDY_DATA_DIR: '/var/lib/eddy',
      },
    });
    expect(config).toEqual({
      dataDir: '/var/lib/eddy',
      backend: 'kafka',
      logLevel: 'debug',
      kafka: {
        brokers: ['b1:9092', 'b2:9093'],
        clientId: 'my-app',
        ssl: true,
        sasl: { mechanism: 'scram-sha-512', username: 'user', password: 'pass' },
        maxReconnectMs: 60_000,
      },
      schemaRegistry: {
        url: 'https://registry.example.com:8081',
        username: 'key',
        password: 'secret',
        maxOutageMs: 120_000,
      },
      http: { port: 0, host: '127.0.0.1' },
      topologies: {},
      worker: {
        shutdownTimeoutMs: 30_000,
        maxBatchRecords: 5_000,
        processingGuarantee: 'exactly-once',
        versionThreads: true,
      },
    });
  });

  it('KAFKA_SSL=false overrides ssl: true in the file', () => {
    writeConfig({ kafka: { ssl: true } });
    expect(load().config.kafka.ssl).toBe(true);
    expect(load({ env: { KAFKA_SSL: 'false' } }).config.kafka.ssl).toBe(false);
  });

  it('KAFKA_BROKERS replaces the file list (lists are not merged)', () => {
    writeConfig({ backend: 'kafka', kafka: { brokers: ['a:1', 'b:2'] }, schemaRegistry: { url: 'http://r:8081' } });
    expect(load().config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(load({ env: { KAFKA_BROKERS: 'c:3' } }).config.kafka.brokers).toEqual(['c:3']);
  });
});

describe('config file', () => {
  it('--config reads that file instead of eddy.config.json, and topology paths are relative to it', () => {
    writeConfig({ logLevel: 'error' });
    mkdirSync(join(dir, 'conf'));
    const other = writeConfig(
      { logLevel: 'trace', topologies: { mine: 'build/mine.js', abs: '/opt/t.js' } },
      join('conf', 'prod.json'),
    );
    const { config, file } = load({ configFile: 'conf/prod.json' });
    expect(file).toBe(other);
    expect(config.logLevel).toBe('trace');
    expect(config.topologies).toEqual({ mine: join(dir, 'conf', 'build', 'mine.js'), abs: '/opt/t.js' });
    expect(load().config.logLevel).toBe('error');
  });

  it('keeps the existing topologies key of eddy.config.json (paths relative to its directory)', () => {
    writeConfig({ topologies: { 'my-topology': 'dist/my-topology.js' } });
    expect(load().config.topologies).toEqual({ 'my-topology': join(dir, 'dist', 'my-topology.js') });
  });

  it('nested keys merge with the defaults of their group', () => {
    writeConfig({ kafka: { clientId: 'x' }, http: { host: '0.0.0.0' } });
    const { config } = load();
    expect(config.kafka).toEqual({ clientId: 'x', ssl: false, maxReconnectMs: 180_000 });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 9464 });
  });
});
