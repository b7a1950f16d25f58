/**
 * The configuration reference is generated from the same schema that validates, and README.md carries it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_SCHEMA,
  configLeaves,
  DOCS_BEGIN,
  DOCS_END,
  renderConfigTable,
  type SchemaNode,
} from '../../src/config/index.js';
import { packageRoot } from '../../src/util/paths.js';

const ENV_VARS = [
  'EDDY_DATA_DIR',
  'EDDY_BACKEND',
  'KAFKA_BROKERS',
  'KAFKA_CLIENT_ID',
  'KAFKA_SSL',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SESSION_TIMEOUT_MS',
  'KAFKA_HEARTBEAT_INTERVAL_MS',
  'KAFKA_MAX_RECONNECT_MS',
  'SCHEMA_REGISTRY_URL',
  'SCHEMA_REGISTRY_USERNAME',
  'SCHEMA_REGISTRY_PASSWORD',
  'SCHEMA_REGISTRY_MAX_OUTAGE_MS',
  'EDDY_HTTP_PORT',
  'EDDY_HTTP_TOKEN',
  'EDDY_LOG_LEVEL',
  'EDDY_PROCESSING_GUARANTEE',
  'EDDY_VERSION_THREADS',
];

describe('renderConfigTable', () => {
  const table = renderConfigTable();
  const rows = table.trim().split('\n').slice(2);

  it('has one row per key, in schema order, each with a description', () => {
    const keys = configLeaves().map((l) => l.key);
    expect(rows.map((r) => /^\| `([^`]+)` \|/.exec(r)?.[1])).toEqual(keys);
    for (const leaf of configLeaves()) expect(leaf.schema.description, leaf.key).toBeTruthy();
  });

  it('documents every environment variable exactly once', () => {
    const envs = configLeaves().flatMap((l) => (l.schema['x-env'] ? [l.schema['x-env']] : []));
    expect([...envs].sort()).toEqual([...ENV_VARS].sort());
    for (const name of ENV_VARS) expect(table.split(`\`${name}\``).length - 1, name).toBe(1);
  });

  it('shows defaults, types and flags from the schema', () => {
    const row = (key: string) => rows.find((r) => r.startsWith(`| \`${key}\` |`))!;
    expect(row('http.port')).toBe(
      '| `http.port` | integer, 0–65535 | `9464` | `EDDY_HTTP_PORT` | `--http-port` | Port of `eddy worker`; 0 picks a free port (logged in the `start` line). |',
    );
    expect(row('backend')).toContain('| `embedded` \\| `kafka` | `embedded` | `EDDY_BACKEND` | `--backend` |');
    expect(row('worker.shutdownTimeoutMs')).toContain('| integer ≥ 0 | `30000` |  | `--shutdown-timeout-ms` |');
    expect(row('kafka.replicationFactor')).toContain('| broker default |');
  });

  it('follows the schema it is given (the docs are generated, not written)', () => {
    const schema: SchemaNode = {
      type: 'object',
      properties: { a: { type: 'integer', minimum: 2, default: 7, description: 'x | y', 'x-env': 'A' } },
    };
    expect(renderConfigTable(schema)).toBe(
      '| key | type | default | environment | flag | meaning |\n|---|---|---|---|---|---|\n| `a` | integer ≥ 2 | `7` | `A` |  | x \\| y |\n',
    );
  });
});

describe('README.md', () => {
  it('carries the generated table under "Configuration" (run `eddy config --docs` and paste it when the schema changes)', () => {
    const readme = readFileSync(join(packageRoot(import.meta.url), 'README.md'), 'utf8');
    expect(readme).toMatch(/^## Configuration$/m);
    const start = readme.indexOf(DOCS_BEGIN);
    const end = readme.indexOf(DOCS_END);
    expect(start).toBeGreaterThan(readme.indexOf('## Configuration'));
    expect(end).toBeGreaterThan(start);
    expect(readme.slice(start + DOCS_BEGIN.length, end).trim()).toBe(renderConfigTable(CONFIG_SCHEMA).trim());
  });
});
