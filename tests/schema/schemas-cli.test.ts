/**
 * `eddy schemas check|register|list|show|set-level` as a user runs them (the built CLI in a child process), on the
 * local registry (embedded backend) and on the Confluent API (Apicurio; the kafka backend, whose broker these
 * commands never contact). The topology is flight-delays v1 and v2 under a namespace, registered through a config
 * file whose module default-exports both versions.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSchemas } from '../../src/schema/load.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { CLI, cleanEnv, ROOT } from '../helpers/proc.js';
import { registryKinds, registryUrl, uniqueSubject } from './registries.js';

function run(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: cleanEnv(env), cwd }, (error, out, err) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

const schemas = loadSchemas(join(ROOT, 'schemas'));
const flight = schemas.get('Flight') as { fields: { name: string; type: unknown }[] };
/** A producer's incompatible change: `delay` becomes a string. */
const flightDelayString = {
  ...flight,
  fields: flight.fields.map((f) => (f.name === 'delay' ? { ...f, type: 'string' } : f)),
};

for (const kind of registryKinds()) {
  describe.skipIf(!kind.available)(`eddy schemas on the ${kind.name} registry`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-schemas-cli-'));
    const ns = uniqueSubject('cli');
    const env: Record<string, string> =
      kind.name === 'local'
        ? { EDDY_DATA_DIR: join(dir, 'data') }
        : {
            EDDY_BACKEND: 'kafka',
            KAFKA_BROKERS: '127.0.0.1:1',
            SCHEMA_REGISTRY_URL: registryUrl(),
            EDDY_DATA_DIR: join(dir, 'data'),
          };
    let registry: SchemaRegistry;
    afterAll(async () => {
      await registry?.close();
      await kind.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('check, register, list, show, set-level', async () => {
      const module = pathToFileURL(join(ROOT, 'dist/examples/flight-delays/topology.js')).href;
      writeFileSync(
        join(dir, 'topology.mjs'),
        `import { flightDelaysVersions } from '${module}';\nexport default () => flightDelaysVersions({ namespace: '${ns}' });\n`,
      );
      writeFileSync(join(dir, 'eddy.config.json'), JSON.stringify({ topologies: { fd: './topology.mjs' } }));
      const eddy = (...args: string[]) => run(args, env, dir);
      // the producer registers its schema first
      const cli = await eddy('schemas', 'list');
      expect(cli.code, cli.err).toBe(0);
      registry = kind.name === 'local' ? LocalSchemaRegistry.open(join(dir, 'data', 'log.db')) : kind.open();
      const input = `${ns}-flights-value`;
      await registry.register(input, flight);

      const ok = await eddy('schemas', 'check', '--topology', 'fd', '--format', 'jsonl');
      expect(ok.code, ok.err).toBe(0);
      const rows = ok.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, string>);
      // v1 reads with the registered schema itself, v2 with its Flight v2 (a new field with a default)
      const inputRows = rows.filter((r) => r.subject === input);
      expect(inputRows.map((r) => [r.eddy, r.verdict, r.versions])).toEqual([
        ['reads', 'registered', 1],
        ['reads', 'ok', 1],
      ]);
      expect(rows.map((r) => r.declared_by).join(' ')).toContain(`${ns}-flight-delays v2 store route_stats`);

      const reg = await eddy('schemas', 'register', '--topology', 'fd', '--format', 'jsonl');
      expect(reg.code, reg.err).toBe(0);
      expect(reg.out).not.toContain(`"${input}"`);
      expect(await registry.listVersions(input)).toEqual([1]);
      expect(await registry.listVersions(`${ns}-airport-delays-hourly.v2-value`)).toEqual([1]);
      expect(await registry.listVersions(`${ns}-flight-delays.v2.route_stats.changelog-value`)).toEqual([1]);
      const again = await eddy('schemas', 'check', '--topology', 'fd', '--format', 'jsonl');
      expect(again.out).toContain('"verdict":"registered"');

      const level = await eddy('schemas', 'set-level', input, 'none');
      expect(level.code, level.err).toBe(0);
      expect(level.out.trim()).toBe(`${input}: NONE`);
      await registry.register(input, flightDelayString);
      const bad = await eddy('schemas', 'check', '--topology', 'fd');
      expect(bad.code).toBe(1);
      expect(bad.out).toContain('INCOMPATIBLE');
      expect(bad.out).toMatch(/field "delay" is string in version 2 \(id \d+\) but int in the reader schema/);
      expect(bad.err).toContain('schema check(s) failed');

      const show = await eddy('schemas', 'show', input, '--format', 'jsonl');
      expect(show.code, show.err).toBe(0);
      const versions = show.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { version: number; level: string; schema: string });
      expect(versions.map((v) => [v.version, v.level])).toEqual([
        [1, 'NONE'],
        [2, 'NONE'],
      ]);
      expect(JSON.parse(versions[1].schema)).toEqual(flightDelayString);

      const list = await eddy('schemas', 'list', '--format', 'jsonl');
      expect(list.out).toContain(`{"subject":"${input}","versions":"1 2",`);

      // a producer's candidate file, checked against the input subject under its level
      await registry.setCompatibility('FULL_TRANSITIVE', input);
      const file = await eddy('schemas', 'check', '--subject', input, '--file', join(ROOT, 'schemas/v2/Flight.avsc'));
      expect(file.code).toBe(1);
      expect(file.out).toContain('field "delay"');
      expect((await eddy('schemas', 'set-level', input, 'SOMETIMES')).code).toBe(2);
    });
  });
}
