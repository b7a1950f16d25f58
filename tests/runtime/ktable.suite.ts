/**
 * Tables through the runtime, on either backend (tests/runtime/ktable.test.ts: embedded log;
 * tests/kafka/ktable.kafka.test.ts: Kafka): a table topic (with tombstones and a null key) and a stream topic
 * of 3 partitions each, a stream–table left join and a KGroupedTable count through its repartition topic; the
 * tables restored from their changelogs after their store files are deleted; and the co-partitioning check (a
 * stream and a table with different partition counts are refused before any write, naming both topics).
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Log, LogRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { snapshot } from '../helpers/snapshot.js';

/** A backend for the suite: a log, a registry, a state directory, and a namespace for topic and topology names. */
export interface TableEnv {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly stateDir: string;
  /** Prefix of every topic and topology name (unique per run on a shared broker). */
  readonly ns: string;
  destroy(): Promise<void>;
}
type Env = TableEnv;
interface User {
  region: string;
}
const userSchema = { type: 'record', name: 'User', fields: [{ name: 'region', type: 'string' }] };

function build(ns: string, clicksTopic = `${ns}clicks`, name = `${ns}tbl`): Topology {
  const t = topology({ name, version: 1 });
  const users = t.table<string, User>('users', `${ns}users`, { key: 'string', value: userSchema });
  t.source<string, string>(clicksTopic, { key: 'string', value: 'string' })
    .leftJoin(users, (page, u) => `${page}@${u?.region ?? '-'}`, { name: 'enrich' })
    .to(t.output(`${ns}enriched`, { key: 'string', value: 'string' }));
  users
    .groupBy('by-region', (_k, u) => ({ key: u.region, value: u }), { key: 'string', value: userSchema })
    .count('per_region')
    .toStream('counts')
    .to(t.output(`${ns}region-counts`, { key: 'string', value: 'long' }));
  // A foreign-key join (KIP-213) with a table of another partition count: no co-partitioning needed.
  const regions = t.table<string, string>('regions', `${ns}regions`, { key: 'string', value: 'string' });
  users
    .leftJoin(
      regions,
      (u) => u.region,
      (u, name) => `${u.region}:${name ?? '-'}`,
      {
        name: 'user-region',
        schemas: { key: 'string', foreignKey: 'string', otherValue: 'string' },
      },
    )
    .toStream('user-region-changes')
    .to(t.output(`${ns}user-regions`, { key: 'string', value: ['null', 'string'] }));
  return t.build();
}

async function produce(env: Env, topic: string, schema: unknown, rows: [string | null, unknown, number][]) {
  const key = await AvroSerde.create<string>(env.registry, `${topic}-key`, 'string');
  const value = await AvroSerde.create<unknown>(env.registry, `${topic}-value`, schema as never);
  const partitions = (await env.log.describeTopic(topic))!.partitions;
  const producer = env.log.producer();
  await producer.send(
    rows.map(([k, v, timestamp]) => {
      const kb = k === null ? null : key.serialize(k);
      return {
        topic,
        partition: kb === null ? 0 : partitionFor(kb, partitions),
        key: kb,
        value: v === null ? null : value.serialize(v),
        timestamp,
        headers: {},
      };
    }),
  );
  await producer.close();
}

async function readAll(env: Env, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const o of await env.log.offsets(topic))
    for await (const b of env.log.read({ topic, partition: o.partition })) out.push(...b);
  return out.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset);
}

/** No time retention (Kafka): the records' timestamps are from 1970, which a broker deletes at once otherwise. */
const KEEP = { 'retention.ms': '-1' };

const USERS: [string | null, User | null, number][] = [
  ['u1', { region: 'eu' }, 1],
  ['u2', { region: 'us' }, 2],
  ['u3', { region: 'eu' }, 3],
  [null, { region: 'xx' }, 4], // dropped: a table row needs a key
  ['u2', { region: 'eu' }, 5], // moves u2 from us to eu
  ['u3', null, 6], // deletes u3
  ['u4', { region: 'us' }, 7],
];
const CLICKS: [string, string, number][] = [
  ['u1', 'home', 10],
  ['u2', 'cart', 11],
  ['u3', 'home', 12], // u3 was deleted: null in a left join
  ['u4', 'pay', 13],
  ['u9', 'home', 14], // never existed
];

/** The suite, on the backend `open` makes. */
export function tableSuite(backend: string, open: () => Promise<TableEnv>, timeoutMs = 30_000): void {
  describe(`tables on ${backend}`, () => {
    let env: TableEnv;
    let t: Topology;
    afterAll(() => env?.destroy());
    const run = (maxBatchRecords = 500) =>
      new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        maxBatchRecords,
      }).run();

    it(
      'joins a stream with a table and re-aggregates the table, partition by partition',
      async () => {
        env = await open();
        t = build(env.ns);
        await env.log.createTopics([
          // Not compacted: Kafka refuses a record without a key on a compacted topic, and the suite writes one (a table
          // reads any topic).
          { name: `${env.ns}users`, partitions: 3, config: KEEP },
          { name: `${env.ns}clicks`, partitions: 3, config: KEEP },
          { name: `${env.ns}regions`, partitions: 2, config: KEEP },
        ]);
        await produce(env, `${env.ns}regions`, 'string', [
          ['eu', 'Europe', 0],
          ['us', 'America', 0],
        ]);
        await produce(env, `${env.ns}users`, userSchema, USERS);
        // The table first, to idle: the join then sees every update (a lookup happens at the stream record's arrival).
        const stats1 = await run();
        expect(stats1.droppedBy.get('users')).toBe(1);
        await produce(env, `${env.ns}clicks`, 'string', CLICKS);
        await run();
        const enriched = await readAll(env, `${env.ns}enriched.v1`);
        const str = (b: Buffer | null) => (b === null ? null : b.subarray(6).toString()); // Avro string after the header
        expect(enriched.map((r) => [str(r.key), str(r.value), r.timestamp])).toEqual([
          ['u1', 'home@eu', 10],
          ['u2', 'cart@eu', 11],
          ['u3', 'home@-', 12],
          ['u4', 'pay@us', 13],
          ['u9', 'home@-', 14],
        ]);
        const snap = await snapshot(env.log, env.registry, env.stateDir, t);
        // Rows as `eddy inspect` reads them: the key, then the value's fields.
        expect(snap.stores.users.map((r) => [r.key, r.region])).toEqual([
          ['u1', 'eu'],
          ['u2', 'eu'],
          ['u4', 'us'],
        ]);
        const counts = Object.fromEntries(snap.stores.per_region.map((r) => [r.key, r.value]));
        expect(counts).toEqual({ eu: 2, us: 1 });
        // The foreign-key join's latest row per user (its order across partitions depends on timing; the end does not).
        const latest = new Map<string | null, string | null>();
        for (const r of await readAll(env, `${env.ns}user-regions.v1`))
          latest.set(str(r.key), r.value === null ? null : r.value.subarray(7).toString()); // after the union index
        expect(Object.fromEntries(latest)).toEqual({ u1: 'eu:Europe', u2: 'eu:Europe', u3: null, u4: 'us:America' });
      },
      timeoutMs,
    );

    it(
      'restores identical tables from their changelogs after the store files are deleted',
      async () => {
        const before = await snapshot(env.log, env.registry, env.stateDir, t);
        rmSync(env.stateDir, { recursive: true, force: true });
        const stats = await run(1);
        expect(stats.restoredRecords).toBeGreaterThan(0);
        const after = await snapshot(env.log, env.registry, env.stateDir, t);
        expect(after.stores).toEqual(before.stores);
        expect(after.topics).toEqual(before.topics); // nothing reprocessed
      },
      timeoutMs,
    );

    it(
      'refuses a stream and a table that are not co-partitioned, before any write',
      async () => {
        await env.log.createTopics([{ name: `${env.ns}clicks2`, partitions: 2, config: KEEP }]);
        const other = build(env.ns, `${env.ns}clicks2`, `${env.ns}tbl2`);
        const topicsBefore = (await env.log.listTopics()).map((d) => d.name).sort();
        await expect(
          new TopologyRunner(other, {
            log: env.log,
            registry: env.registry,
            stateDir: env.stateDir,
            untilIdle: true,
          }).run(),
        ).rejects.toThrow(/not co-partitioned: .*(users \(3\).*clicks2 \(2\)|clicks2 \(2\).*users \(3\))/);
        expect((await env.log.listTopics()).map((d) => d.name).sort()).toEqual(topicsBefore);
      },
      timeoutMs,
    );
  });
}
