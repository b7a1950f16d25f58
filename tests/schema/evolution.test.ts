/**
 * Schema evolution in the runtime, on the embedded log with each registry (local, Apicurio's Confluent API):
 * - running a topology registers nothing under its inputs' subjects (their producers own them);
 * - an input reader schema that cannot read a registered version is refused before any topic is created;
 * - dead-letter reasons of deserialization failures say key or value and the writer schema id;
 * - store values written under two schema ids (a compatible change) restore and read as a fresh store does, and a
 *   value under an unreadable schema stops with an error naming the store and saying to bump the version.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EmbeddedLog } from '../../src/log/embedded/index.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { HEADERS, TopologySerdes } from '../../src/runtime/serdes.js';
import { storePath } from '../../src/runtime/task.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { SqliteKeyValueStore } from '../../src/state/kv-store.js';
import { KeyValueStore } from '../../src/state/stores.js';
import { topology } from '../../src/topology/builder.js';
import { tempBackend } from '../helpers/backend.js';
import { registryKinds, uniqueSubject } from './registries.js';

const reading = (fields: object[] = []) => ({
  type: 'record',
  name: 'Reading',
  namespace: 'eddy.test.evolution',
  fields: [{ name: 'celsius', type: 'double' }, ...fields],
});
const produced = reading();
/** The topology's reader: one more field, with a default (reads what the producer writes). */
const readerWithDefault = reading([{ name: 'station', type: ['null', 'string'], default: null }]);
/** A reader that cannot read the producer's records: a new field without a default. */
const readerNoDefault = reading([{ name: 'humidity', type: 'double' }]);

const counts = (fields: object[] = []) => ({
  type: 'record',
  name: 'Counts',
  namespace: 'eddy.test.evolution',
  fields: [{ name: 'n', type: 'long' }, ...fields],
});

/** source -> filter -> output, reading `in` with `reader`. */
function passThrough(name: string, reader: object) {
  const t = topology({ name, version: 1 });
  const out = t.output<string, { celsius: number }>(`${name}-out`, { key: 'string', value: produced });
  t.source<string, { celsius: number }>(`${name}-in`, { key: 'string', value: reader })
    .filter(() => true, 'all')
    .to(out, 'to-out');
  return t.build();
}

/** A count per key in store `counts`, value schema `value`. */
function counter(name: string, value: object) {
  const t = topology({ name, version: 1 });
  t.source<string, { celsius: number }>(`${name}-in`, { key: 'string', value: produced })
    .groupByKey({ key: 'string' })
    .aggregate<{ n: number }>('counts', {
      value,
      initializer: () => ({ n: 0 }),
      aggregator: (a) => ({ ...a, n: a.n + 1 }),
    });
  return t.build();
}

async function produce(log: EmbeddedLog, registry: SchemaRegistry, topic: string, n: number, schema = produced) {
  await log.createTopics([{ name: topic, partitions: 1 }]);
  const key = await AvroSerde.create<string>(registry, `${topic}-key`, 'string');
  const value = await AvroSerde.create<{ celsius: number }>(registry, `${topic}-value`, schema);
  const p = log.producer();
  await p.send(
    Array.from({ length: n }, (_, i) => ({
      topic,
      partition: 0,
      key: key.serialize(`k${i % 3}`),
      value: value.serialize({ celsius: i }),
      timestamp: 1_000 + i,
    })),
  );
  await p.close();
}

async function versionsOf(registry: SchemaRegistry, subject: string) {
  const out = [];
  for (const v of await registry.listVersions(subject)) out.push((await registry.getVersion(subject, v))?.id);
  return out;
}

for (const kind of registryKinds()) {
  describe.skipIf(!kind.available)(`schema evolution with the ${kind.name} registry`, () => {
    const backends: ReturnType<typeof tempBackend>[] = [];
    const backend = () => {
      const b = tempBackend('eddy-evolution-');
      backends.push(b);
      return { ...b, registry: kind.open() };
    };
    afterAll(async () => {
      for (const b of backends.splice(0)) await b.destroy();
      await kind.cleanup();
    });

    it('a run registers nothing under its input subjects, and decodes with the writer schema resolved', async () => {
      const b = backend();
      const name = uniqueSubject('passthrough');
      await produce(b.log, b.registry, `${name}-in`, 5);
      const before = await versionsOf(b.registry, `${name}-in-value`);
      const keysBefore = await versionsOf(b.registry, `${name}-in-key`);
      expect(before).toHaveLength(1);
      const t = passThrough(name, readerWithDefault);
      await new TopologyRunner(t, { log: b.log, registry: b.registry, stateDir: b.stateDir, untilIdle: true }).run();
      expect(await versionsOf(b.registry, `${name}-in-value`)).toEqual(before);
      expect(await versionsOf(b.registry, `${name}-in-key`)).toEqual(keysBefore);
      // what eddy writes is registered
      expect(await versionsOf(b.registry, `${name}-out.v1-value`)).toHaveLength(1);
      expect((await b.log.offsets(`${name}-out.v1`))[0].high).toBe(5);
    });

    it('refuses an input reader schema that cannot read a registered version, before any topic is created', async () => {
      const b = backend();
      const name = uniqueSubject('unreadable');
      await produce(b.log, b.registry, `${name}-in`, 2);
      const t = passThrough(name, readerNoDefault);
      const err = await new TopologyRunner(t, {
        log: b.log,
        registry: b.registry,
        stateDir: b.stateDir,
        untilIdle: true,
      })
        .run()
        .then(
          () => undefined,
          (e: Error & { code?: string }) => e,
        );
      expect(err?.code).toBe('UNREADABLE_INPUT_SCHEMA');
      expect(err?.message).toContain(`subject "${name}-in-value"`);
      expect(err?.message).toContain('field "humidity"');
      expect(err?.message).toContain('without a default');
      expect((await b.log.listTopics()).map((d) => d.name)).toEqual([`${name}-in`]);
      expect(await versionsOf(b.registry, `${name}-in-value`)).toHaveLength(1);
      expect(await b.registry.listVersions(`${name}-out.v1-value`)).toEqual([]);
    });

    it('dead-letter reasons say key or value and the writer schema id, and name the field of a resolution failure', async () => {
      const b = backend();
      const name = uniqueSubject('dlq');
      const t = passThrough(name, readerWithDefault);
      await produce(b.log, b.registry, `${name}-in`, 1);
      const runner = () =>
        new TopologyRunner(t, { log: b.log, registry: b.registry, stateDir: b.stateDir, untilIdle: true }).run();
      await runner();
      // written after the topology started: a schema of another subject whose `celsius` is a string
      const other = await AvroSerde.create<{ celsius: string }>(b.registry, uniqueSubject('other-value'), {
        ...produced,
        fields: [{ name: 'celsius', type: 'string' }],
      });
      const key = await AvroSerde.create<string>(b.registry, `${name}-in-key`, 'string');
      const p = b.log.producer();
      await p.send([
        { topic: `${name}-in`, partition: 0, key: Buffer.from('plain text key'), value: null, timestamp: 5 },
        {
          topic: `${name}-in`,
          partition: 0,
          key: key.serialize('k'),
          value: other.serialize({ celsius: 'warm' }),
          timestamp: 6,
        },
      ]);
      await p.close();
      await runner();
      const reasons: string[] = [];
      for await (const batch of b.log.read({ topic: t.deadLetterTopic!, partition: 0 }))
        for (const r of batch) reasons.push(r.headers[HEADERS.dlqReason]!.toString());
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toMatch(
        /^deserialization failed: key \(no writer schema id\): Not a Confluent wire-format value/,
      );
      expect(reasons[1]).toMatch(
        new RegExp(
          `^deserialization failed: value \\(writer schema id ${other.schemaId}\\): .*field "celsius" is string`,
        ),
      );
    });

    it('store values under two schema ids restore and read like a fresh store; an unreadable one names the store', async () => {
      const b = backend();
      const name = uniqueSubject('store');
      const v1 = counter(name, counts());
      const v2 = counter(name, counts([{ name: 'tag', type: ['null', 'string'], default: null }]));
      const changelog = v1.stores.get('counts')!.changelog;
      // values written by the old code, then by the new code (a compatible change: a field with a default)
      const old = await TopologySerdes.create(v1, b.registry);
      const oldBytes = ['a', 'b'].map((k, i) => ({
        key: old.store('counts').key.serialize(k),
        value: old.store('counts').value.serialize({ n: i + 1 }),
      }));
      const now = await TopologySerdes.create(v2, b.registry);
      const nowBytes = [
        { key: now.store('counts').key.serialize('c'), value: now.store('counts').value.serialize({ n: 7, tag: 'x' }) },
      ];
      expect((await b.registry.listVersions(`${changelog}-value`)).length).toBe(2);

      const path = storePath(b.stateDir, v2.groupId, '0_0', 'counts');
      mkdirSync(join(path, '..'), { recursive: true });
      const store = new KeyValueStore(
        new SqliteKeyValueStore('counts', path),
        now.store('counts').key,
        now.store('counts').value,
        10,
      );
      store.restore([...oldBytes, ...nowBytes], 3);
      expect(store.get('a')).toEqual({ n: 1, tag: null });
      expect(store.get('b')).toEqual({ n: 2, tag: null });
      expect(store.get('c')).toEqual({ n: 7, tag: 'x' });
      store.close();
      // the same through `eddy inspect`'s reader, which registers nothing
      const rows = await readStore({
        stateDir: b.stateDir,
        topology: v2,
        store: v2.stores.get('counts')!,
        registry: b.registry,
      });
      expect(rows).toEqual([
        { key: 'a', n: 1, tag: null },
        { key: 'b', n: 2, tag: null },
        { key: 'c', n: 7, tag: 'x' },
      ]);
      expect((await b.registry.listVersions(`${changelog}-value`)).length).toBe(2);

      // an incompatible value schema (registered under NONE, as by code that changed the schema without a new version)
      await b.registry.setCompatibility('NONE', `${changelog}-value`);
      const bad = await AvroSerde.create<{ n: string }>(b.registry, `${changelog}-value`, {
        ...counts(),
        fields: [{ name: 'n', type: 'string' }],
      });
      const badBytes = { key: now.store('counts').key.serialize('d'), value: bad.serialize({ n: 'many' }) };
      // a running store meets the value: stops naming the store
      const store2 = new KeyValueStore(
        new SqliteKeyValueStore('counts', path),
        now.store('counts').key,
        now.store('counts').value,
        10,
      );
      store2.restore([badBytes], 4);
      expect(store2.get('a')).toEqual({ n: 1, tag: null });
      let err: (Error & { code?: string }) | undefined;
      try {
        store2.get('d');
      } catch (e) {
        err = e as Error & { code?: string };
      }
      store2.close();
      expect(err?.code).toBe('STORE_SCHEMA');
      expect(err?.message).toContain('State store "counts"');
      expect(err?.message).toContain(`writer schema id ${bad.schemaId}`);
      expect(err?.message).toContain('bump the topology version');
      // a new start is refused before anything is registered, naming the store, the field and the fix
      const before = await b.registry.listVersions(`${changelog}-value`);
      const refused = await TopologySerdes.create(v2, b.registry).then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(refused?.code).toBe('STORE_SCHEMA');
      expect(refused?.message).toMatch(
        /State store "counts".*version 3: .*field "n" is string.*bump the topology version/,
      );
      expect(await b.registry.listVersions(`${changelog}-value`)).toEqual(before);
      // and so is `eddy inspect`
      await expect(
        readStore({ stateDir: b.stateDir, topology: v2, store: v2.stores.get('counts')!, registry: b.registry }),
      ).rejects.toThrow(/State store "counts".*bump the topology version/);
    });
  });
}
