import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, type EddyError, IncompatibleSchemaError } from '../../src/errors.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';
import { flightNoDefault, flightV1, flightV2, flightWithoutDistance } from './fixtures.js';

let dir: string;
let file: string;
const open: LocalSchemaRegistry[] = [];
const openRegistry = () => {
  const r = LocalSchemaRegistry.open(file);
  open.push(r);
  return r;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'eddy-schema-'));
  file = join(dir, 'eddy.db');
});
afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<EddyError> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: EddyError) => err,
  );
}

describe('LocalSchemaRegistry ids and versions', () => {
  it('gives global ids from 1 and per-subject versions from 1', async () => {
    const r = openRegistry();
    expect(await r.register('flights-value', flightV1)).toBe(1);
    expect(await r.register('flights-key', 'string')).toBe(2);
    expect(await r.register('flights-value', flightV2)).toBe(3);
    expect(await r.listVersions('flights-value')).toEqual([1, 2]);
    expect(await r.listVersions('flights-key')).toEqual([1]);
    expect(await r.listSubjects()).toEqual(['flights-key', 'flights-value']);
    expect(await r.getLatest('flights-value')).toEqual({
      id: 3,
      subject: 'flights-value',
      version: 2,
      schema: flightV2,
    });
    expect(await r.getVersion('flights-value', 1)).toEqual({
      id: 1,
      subject: 'flights-value',
      version: 1,
      schema: flightV1,
    });
    expect(await r.getById(2)).toBe('string');
  });

  it('is idempotent: an identical schema (canonical form) returns the existing id and adds no version', async () => {
    const r = openRegistry();
    const id = await r.register('flights-value', flightV1);
    await r.register('flights-value', flightV2);
    const reordered = { fields: flightV1.fields, namespace: 'eddy.test', name: 'Flight', type: 'record', doc: 'same' };
    expect(await r.register('flights-value', reordered)).toBe(id);
    expect(await r.listVersions('flights-value')).toEqual([1, 2]);
  });

  it('treats a new default as a new version (so a FORWARD field removal can follow)', async () => {
    const r = openRegistry();
    await r.setCompatibility('FORWARD', 'flights-value');
    await r.register('flights-value', flightV1);
    const withDefault = {
      ...flightV1,
      fields: flightV1.fields.map((f) => (f.name === 'distance' ? { ...f, default: 0 } : f)),
    };
    expect(await r.register('flights-value', withDefault)).toBe(2);
    expect(await r.register('flights-value', flightWithoutDistance)).toBe(3);
    expect(await r.listVersions('flights-value')).toEqual([1, 2, 3]);
  });

  it('shares the id of a schema registered under several subjects (like Confluent)', async () => {
    const r = openRegistry();
    const a = await r.register('a-value', flightV1);
    const b = await r.register('b-value', flightV1);
    expect(b).toBe(a);
    expect((await r.getLatest('b-value'))?.version).toBe(1);
  });

  it('answers undefined / empty for unknown subjects and versions, and UNKNOWN_SCHEMA_ID for unknown ids', async () => {
    const r = openRegistry();
    await r.register('flights-value', flightV1);
    expect(await r.getLatest('nope')).toBeUndefined();
    expect(await r.getVersion('flights-value', 2)).toBeUndefined();
    expect(await r.listVersions('nope')).toEqual([]);
    const err = await rejection(r.getById(42));
    expect(err.code).toBe('UNKNOWN_SCHEMA_ID');
    expect(err.details).toMatchObject({ schemaId: 42 });
  });

  it('rejects invalid Avro and empty subjects with ConfigError', async () => {
    const r = openRegistry();
    expect(await rejection(r.register('x', { type: 'record', name: 'X' }))).toBeInstanceOf(ConfigError);
    expect(await rejection(r.register('', 'string'))).toBeInstanceOf(ConfigError);
  });

  it('keeps its tables prefixed schema_ in the shared SQLite file, in WAL mode', async () => {
    const r = openRegistry();
    await r.register('flights-value', flightV1);
    const db = new Database(file, { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const mode = db.pragma('journal_mode', { simple: true });
    db.close();
    const ours = tables.map((t) => t.name).filter((n) => !n.startsWith('sqlite_'));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.every((n) => n.startsWith('schema_'))).toBe(true);
    expect(mode).toBe('wal');
  });
});

describe('LocalSchemaRegistry compatibility', () => {
  it('rejects an incompatible change with a helpful message and registers nothing', async () => {
    const r = openRegistry();
    await r.register('flights-value', flightV1);
    const err = await rejection(r.register('flights-value', flightNoDefault));
    expect(err).toBeInstanceOf(IncompatibleSchemaError);
    expect(err.code).toBe('INCOMPATIBLE_SCHEMA');
    expect(err.message).toContain('"flights-value"');
    expect(err.message).toContain('BACKWARD');
    expect(err.message).toContain('field "tailNumber"');
    expect(err.message).toContain('Fix: give "tailNumber" a default');
    expect(await r.listVersions('flights-value')).toEqual([1]);
  });

  it('defaults to BACKWARD; subject level overrides the global level', async () => {
    const r = openRegistry();
    expect(await r.getCompatibility()).toBe('BACKWARD');
    expect(await r.getCompatibility('flights-value')).toBe('BACKWARD');
    await r.setCompatibility('FULL');
    await r.setCompatibility('NONE', 'other-value');
    expect(await r.getCompatibility('flights-value')).toBe('FULL');
    expect(await r.getCompatibility('other-value')).toBe('NONE');
    expect(await r.getCompatibility()).toBe('FULL');
  });

  it('applies the level: FORWARD rejects removing a required field, BACKWARD accepts it, NONE accepts anything', async () => {
    const r = openRegistry();
    await r.register('fwd', flightV1);
    await r.register('bwd', flightV1);
    await r.register('none', flightV1);
    await r.setCompatibility('FORWARD', 'fwd');
    await r.setCompatibility('NONE', 'none');
    const err = await rejection(r.register('fwd', flightWithoutDistance));
    expect(err.message).toMatch(/FORWARD-compatible: field "distance" was removed/);
    expect(await r.register('fwd', flightNoDefault)).toBeGreaterThan(0);
    expect(await r.register('bwd', flightWithoutDistance)).toBeGreaterThan(0);
    expect(await r.register('none', 'string')).toBeGreaterThan(0);
    expect(await r.listVersions('none')).toEqual([1, 2]);
  });

  it('checks every version under *_TRANSITIVE and only the latest otherwise', async () => {
    const r = openRegistry();
    const v2 = { ...flightV1, fields: [...flightV1.fields, { name: 'tailNumber', type: 'string', default: '' }] };
    for (const s of ['plain', 'transitive']) {
      await r.register(s, flightV1);
      await r.register(s, v2);
    }
    await r.setCompatibility('BACKWARD_TRANSITIVE', 'transitive');
    expect(await r.testCompatibility('plain', flightNoDefault)).toBeNull();
    expect(await r.testCompatibility('transitive', flightNoDefault)).toContain('version 1 (id 1)');
    const err = await rejection(r.register('transitive', flightNoDefault));
    expect(err).toBeInstanceOf(IncompatibleSchemaError);
  });

  it('testCompatibility is a dry run', async () => {
    const r = openRegistry();
    await r.register('flights-value', flightV1);
    expect(await r.testCompatibility('flights-value', flightV2)).toBeNull();
    expect(await r.testCompatibility('flights-value', flightNoDefault)).toContain('"tailNumber"');
    expect(await r.testCompatibility('flights-value', flightV1)).toBeNull();
    expect(await r.listVersions('flights-value')).toEqual([1]);
  });

  it('rejects unknown levels', async () => {
    const r = openRegistry();
    expect(await rejection(r.setCompatibility('SIDEWAYS' as never))).toBeInstanceOf(ConfigError);
  });
});

describe('LocalSchemaRegistry persistence', () => {
  it('keeps ids, versions and levels across reopen, and continues the id sequence', async () => {
    const a = openRegistry();
    await a.register('flights-value', flightV1);
    await a.register('flights-key', 'string');
    await a.setCompatibility('FULL', 'flights-value');
    await a.close();
    const b = openRegistry();
    expect(await b.getById(1)).toEqual(flightV1);
    expect(await b.listVersions('flights-value')).toEqual([1]);
    expect(await b.getCompatibility('flights-value')).toBe('FULL');
    expect(await b.register('flights-value', flightV1)).toBe(1);
    expect(await b.register('flights-value', flightV2)).toBe(3);
  });

  it('two handles on one file (two processes) never hand out the same id', async () => {
    const a = openRegistry();
    const b = openRegistry();
    const ids = [await a.register('x', 'string'), await b.register('y', 'long'), await a.register('z', 'int')];
    expect(ids).toEqual([1, 2, 3]);
    expect(await b.getById(3)).toBe('int');
    expect(await a.register('y', 'long')).toBe(2);
  });
});
