/**
 * The two schema registries the schema-evolution tests run on: the local SQLite registry and the Confluent API
 * (Apicurio, started by the vitest global setup; the Apicurio cases skip only when the run was started with
 * EDDY_INFRA=none and no SCHEMA_REGISTRY_URL).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';
import type { SchemaRegistry } from '../../src/schema/types.js';

export const registryUrl = (): string => inject('schemaRegistryUrl') || process.env.SCHEMA_REGISTRY_URL || '';

/** A registry of each kind; `open` gives a fresh one (local: a new file) and `cleanup` closes them all. */
export interface RegistryKind {
  name: 'local' | 'apicurio';
  available: boolean;
  open(): SchemaRegistry;
  cleanup(): Promise<void>;
}

export function registryKinds(): RegistryKind[] {
  const dirs: string[] = [];
  const opened: SchemaRegistry[] = [];
  const cleanup = async () => {
    for (const r of opened.splice(0)) await r.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  };
  return [
    {
      name: 'local',
      available: true,
      open() {
        const dir = mkdtempSync(join(tmpdir(), 'eddy-schema-'));
        dirs.push(dir);
        const r = LocalSchemaRegistry.open(join(dir, 'log.db'));
        opened.push(r);
        return r;
      },
      cleanup,
    },
    {
      name: 'apicurio',
      available: registryUrl() !== '',
      open() {
        const r = new ConfluentSchemaRegistry({ host: registryUrl() });
        opened.push(r);
        return r;
      },
      cleanup,
    },
  ];
}

/** A subject name no earlier run used (Apicurio keeps its subjects between runs). */
export const uniqueSubject = (base: string): string =>
  `${base}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
