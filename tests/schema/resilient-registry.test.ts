/**
 * `ResilientRegistry` and its on-disk `RegistryCache` (issue 16, item 1), with no broker: the registry behind it is a
 * real local (SQLite) registry while "up", and a real Confluent-API client pointed at a closed loopback port while
 * "down" (connection refused: the same `SchemaRegistryError` with `retriable` an unreachable server gives).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryUnreachableError, SerdeError, UnknownSchemaIdError } from '../../src/errors.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { LocalSchemaRegistry } from '../../src/schema/local-registry.js';
import { RegistryCache } from '../../src/schema/registry-cache.js';
import { type RegistryEvent, ResilientRegistry } from '../../src/schema/resilient-registry.js';
import type { SchemaRegistry } from '../../src/schema/types.js';

const V1 = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }] };
const V2 = { ...V1, fields: [...V1.fields, { name: 'b', type: ['null', 'string'], default: null }] };

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('ResilientRegistry', () => {
  let dir: string;
  let local: LocalSchemaRegistry;
  let unreachable: ConfluentSchemaRegistry;
  let up: boolean;
  let events: RegistryEvent[];
  /** The registry behind the resilient one: the local registry while `up`, the unreachable client otherwise. */
  let inner: SchemaRegistry;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eddy-resilient-'));
    local = LocalSchemaRegistry.open(join(dir, 'registry.db'));
    unreachable = new ConfluentSchemaRegistry({ host: `http://127.0.0.1:${await closedPort()}`, retries: 0 });
    up = true;
    events = [];
    const pick = () => (up ? local : unreachable);
    inner = {
      register: (s, x) => pick().register(s, x),
      getById: (id) => pick().getById(id),
      getLatest: (s) => pick().getLatest(s),
      getVersion: (s, v) => pick().getVersion(s, v),
      listSubjects: () => pick().listSubjects(),
      listVersions: (s) => pick().listVersions(s),
      getCompatibility: (s) => pick().getCompatibility(s),
      setCompatibility: (l, s) => pick().setCompatibility(l, s),
      testCompatibility: (s, x) => pick().testCompatibility(s, x),
      close: async () => undefined,
    };
  });

  afterEach(async () => {
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (maxOutageMs = 60_000) =>
    new ResilientRegistry(inner, {
      url: 'http://registry.test',
      cache: new RegistryCache(join(dir, 'cache'), 'http://registry.test'),
      maxOutageMs,
      maxBackoffMs: 50,
      onEvent: (e) => events.push(e),
    });

  it('answers a start-up from the on-disk cache during an outage, and says when the registry is down and back', async () => {
    const first = open();
    const id1 = await first.register('t-value', V1);
    const id2 = await local.register('t-value', V2);
    expect(await first.listVersions('t-value')).toEqual([1, 2]);
    expect((await first.getVersion('t-value', 2))?.id).toBe(id2);
    expect(await first.getById(id2)).toEqual(V2);
    expect(await first.getCompatibility('t-value')).toBe('BACKWARD');
    expect(await first.testCompatibility('t-value', V1)).toBeNull();
    expect(events).toEqual([]);

    // a restart during an outage: a new instance reads what the first one wrote
    up = false;
    const second = open(100);
    expect(await second.register('t-value', V1)).toBe(id1);
    expect(await second.listVersions('t-value')).toEqual([1, 2]);
    expect(await second.getVersion('t-value', 2)).toEqual({ id: id2, subject: 't-value', version: 2, schema: V2 });
    expect((await second.getLatest('t-value'))?.id).toBe(id2);
    expect(await second.getById(id1)).toEqual(V1);
    expect(await second.getCompatibility('t-value')).toBe('BACKWARD');
    expect(await second.testCompatibility('t-value', V1)).toBeNull();
    expect(events.map((e) => e.kind)).toEqual(['down']);
    expect(second.health()).toMatchObject({ up: false, outages: 1 });
    // what it never saw, it waits for up to the bound, then names the registry
    const err = await second.getById(id2 + 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as Error).message).toContain('http://registry.test');
    expect((err as Error).message).toContain('schemaRegistry.maxOutageMs (100 ms)');

    up = true;
    expect(await second.listSubjects()).toEqual(['t-value']);
    expect(events.map((e) => e.kind)).toEqual(['down', 'up']);
    expect(second.health()).toMatchObject({ up: true, outages: 1 });
    expect(readdirSync(join(dir, 'cache', 'ids')).sort()).toEqual([`${id1}.avsc`, `${id2}.avsc`].sort());
  });

  it('waits out an outage: a call that began while down returns once the registry answers', async () => {
    const r = open();
    const id = await local.register('t-value', V1);
    up = false;
    const pending = r.getById(id);
    while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events.map((e) => e.kind)).toEqual(['down']);
    up = true;
    expect(await pending).toEqual(V1);
    expect(events.map((e) => e.kind)).toEqual(['down', 'up']);
  });

  it('stopWaiting ends a wait in progress with the registry error (a worker shutting down)', async () => {
    const r = open();
    const id = await local.register('t-value', V1);
    up = false;
    const pending = r.getById(id).catch((e: unknown) => e);
    while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    r.stopWaiting();
    const err = await pending;
    expect(err).toMatchObject({ code: 'SCHEMA_REGISTRY', retriable: true });
  });

  it('an id the registry does not know is a bad record (remembered); an unreachable registry is not', async () => {
    const r = open(100);
    const serde = await AvroSerde.create<{ a: number }>(r, 't-value', V1);
    const unknown = await serde.prepare([9_999]).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(SerdeError);
    expect(((unknown as SerdeError).cause as Error) instanceof UnknownSchemaIdError).toBe(true);

    const id2 = await local.register('t-value', V2);
    up = false;
    const outage = await serde.prepare([id2]).catch((e: unknown) => e);
    expect(outage).toBeInstanceOf(RegistryUnreachableError);
    up = true;
    // not remembered as a failure: once the registry answers, the id resolves
    await serde.prepare([id2]);
  });
});
