/**
 * Backend selection from the configuration (`openBackend` in src/cli/env.ts). Opening connects nothing, so no
 * broker is needed: this checks the wiring, not Kafka.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kafkaLogLevel, openBackend } from '../../src/cli/env.js';
import { loadConfig } from '../../src/config/index.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { KafkaLog } from '../../src/log/kafka/index.js';
import { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-backend-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('openBackend', () => {
  it('embedded (the default): the SQLite log and the local registry in <dataDir>/log.db', async () => {
    const { config } = loadConfig({ cwd: dir, env: {} });
    const b = await openBackend(config);
    try {
      expect(b.kind).toBe('embedded');
      expect(b.log).toBeInstanceOf(EmbeddedLog);
      expect(b.registry).toBeInstanceOf(LocalSchemaRegistry);
      expect(b.paths).toEqual({
        dataDir: join(dir, '.eddy'),
        logPath: join(dir, '.eddy', 'log.db'),
        stateDir: join(dir, '.eddy', 'state'),
      });
      expect(existsSync(join(dir, '.eddy', 'log.db'))).toBe(true);
    } finally {
      await b.close();
    }
  });

  it('kafka: a KafkaLog and a Confluent-API registry from the environment; nothing written locally', async () => {
    const { config } = loadConfig({
      cwd: dir,
      env: {
        EDDY_BACKEND: 'kafka',
        KAFKA_BROKERS: '127.0.0.1:1',
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
        SCHEMA_REGISTRY_URL: 'http://127.0.0.1:2/apis/ccompat/v7/',
        SCHEMA_REGISTRY_USERNAME: 'key',
        SCHEMA_REGISTRY_PASSWORD: 'secret',
      },
    });
    const b = await openBackend(config);
    try {
      expect(b.kind).toBe('kafka');
      expect(b.log).toBeInstanceOf(KafkaLog);
      expect(b.log.kind).toBe('kafka');
      expect(b.registry).toBeInstanceOf(ConfluentSchemaRegistry);
      expect((b.registry as ConfluentSchemaRegistry).host).toBe('http://127.0.0.1:2/apis/ccompat/v7');
    } finally {
      await b.close();
    }
    expect(existsSync(join(dir, '.eddy'))).toBe(false);
  });

  it('maps eddy log levels to kafkajs levels', () => {
    expect(kafkaLogLevel('silent')).toBe('nothing');
    expect(kafkaLogLevel('info')).toBe('error');
    expect(kafkaLogLevel('warn')).toBe('warn');
    expect(kafkaLogLevel('debug')).toBe('debug');
    expect(kafkaLogLevel('trace')).toBe('debug');
  });
});
