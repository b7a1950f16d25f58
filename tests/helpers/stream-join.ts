/**
 * The orders ⋈ payments outer join scenario run on the embedded log (tests/runtime/stream-join.test.ts) and on Kafka
 * (tests/kafka/stream-join.kafka.test.ts): two co-partitioned inputs of 3 partitions, inputs chosen so that the order
 * in which a task reads its two topics cannot change the results (phase 1 lies within one join window: every pair
 * joins, nothing closes; phase 2 closes everything left unmatched), and the expected outputs from the test driver.
 */
import type { Log } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { joinWindows } from '../../src/processors/stream-join.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { TopologyTestDriver } from '../../src/testing/driver.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';

export const ORDER = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] };
export const PAYMENT = { type: 'record', name: 'Payment', fields: [{ name: 'amount', type: 'int' }] };
export const T0 = Date.UTC(2024, 0, 1);
export const PARTITIONS = 3;

export interface JoinScenario {
  readonly name: string;
  readonly orders: string;
  readonly payments: string;
  /** The output's name: the topic is `<output>.v1`. */
  readonly output: string;
}

export function buildJoin(s: JoinScenario): Topology {
  const t = topology({ name: s.name, version: 1 });
  const out = t.output<string, string>(s.output, { key: 'string', value: 'string' });
  const orders = t.source<string, { id: string }>(s.orders, { key: 'string', value: ORDER });
  const payments = t.source<string, { amount: number }>(s.payments, { key: 'string', value: PAYMENT });
  orders
    .outerJoin(payments, (o, p) => `${o?.id ?? '-'}/${p?.amount ?? '-'}`, {
      name: 'paid',
      window: joinWindows.of(60_000, 10_000),
      values: { left: ORDER, right: PAYMENT },
    })
    .to(out);
  return t.build();
}

export interface Input {
  readonly topic: string;
  readonly key: string;
  readonly value: unknown;
  readonly timestampMs: number;
}

export function joinInputs(s: JoinScenario): { phase1: Input[]; phase2: Input[] } {
  const phase1: Input[] = [];
  for (let i = 0; i < 60; i++) {
    const key = `c${i % 12}`;
    const ts = T0 + ((i * 7_919) % 30_000); // all within 30 s: one window, any order
    if (i % 4 !== 3) phase1.push({ topic: s.orders, key, value: { id: `o${i}` }, timestampMs: ts });
    if (i % 3 !== 2 && i % 12 < 9) phase1.push({ topic: s.payments, key, value: { amount: i }, timestampMs: ts });
  }
  // Phase 2: per key, a far later order: every task's stream time passes every phase 1 window + grace.
  const phase2: Input[] = [];
  for (let k = 0; k < 12; k++)
    phase2.push({ topic: s.orders, key: `c${k}`, value: { id: `late-closer${k}` }, timestampMs: T0 + 3_600_000 });
  return { phase1, phase2 };
}

/** The driver's outputs for both phases, as sorted `partition key value timestamp-T0` lines. */
export async function expectedJoin(s: JoinScenario): Promise<string[]> {
  const { phase1, phase2 } = joinInputs(s);
  const d = await TopologyTestDriver.create(buildJoin(s), {
    partitions: { [s.orders]: PARTITIONS, [s.payments]: PARTITIONS },
  });
  try {
    await d.pipeInputs(phase1);
    await d.pipeInputs(phase2);
    return d
      .readOutput<string, string>(`${s.output}.v1`)
      .map((o) => `${o.partition} ${o.key} ${o.value} ${o.timestamp - T0}`)
      .sort();
  } finally {
    await d.close();
  }
}

/** Produces `rows` as their producer would (Avro with registered schemas, partitioned by key). */
export async function produceJoinInputs(log: Log, registry: SchemaRegistry, s: JoinScenario, rows: Input[]) {
  const serdes = new Map<string, { key: AvroSerde<string>; value: AvroSerde<unknown> }>();
  for (const [topic, schema] of [
    [s.orders, ORDER],
    [s.payments, PAYMENT],
  ] as const)
    serdes.set(topic, {
      key: await AvroSerde.create<string>(registry, `${topic}-key`, 'string'),
      value: await AvroSerde.create<unknown>(registry, `${topic}-value`, schema),
    });
  const producer = log.producer();
  await producer.send(
    rows.map((r) => {
      const sd = serdes.get(r.topic)!;
      const key = sd.key.serialize(r.key);
      return {
        topic: r.topic,
        partition: partitionFor(key, PARTITIONS),
        key,
        value: sd.value.serialize(r.value),
        timestamp: r.timestampMs,
      };
    }),
  );
  await producer.close();
}

/** The output topic `<output>.v1`, as sorted `partition key value timestamp-T0` lines. */
export async function readJoinOutput(log: Log, registry: SchemaRegistry, s: JoinScenario): Promise<string[]> {
  const topic = `${s.output}.v1`;
  const outKey = await AvroSerde.reader<string>(registry, `${topic}-key`, 'string');
  const outValue = await AvroSerde.reader<string>(registry, `${topic}-value`, 'string');
  const got: string[] = [];
  for (let p = 0; p < PARTITIONS; p++)
    for await (const batch of log.read({ topic, partition: p }))
      for (const r of batch) {
        if (r.key === null || r.value === null) continue;
        await outKey.prepare([AvroSerde.schemaIdOf(r.key)]);
        await outValue.prepare([AvroSerde.schemaIdOf(r.value)]);
        got.push(`${p} ${outKey.deserialize(r.key)} ${outValue.deserialize(r.value)} ${r.timestamp - T0}`);
      }
  return got.sort();
}
