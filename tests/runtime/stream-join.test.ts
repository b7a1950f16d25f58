/**
 * A stream–stream join through the runtime on the embedded log: two co-partitioned input topics (3 partitions each)
 * meet in one sub-topology whose tasks read both (routes per source topic); the results equal the test driver's.
 * Inputs are chosen so that the order in which a task reads its two topics cannot change the results: phase 1 lies
 * within one join window (every pair joins, nothing closes), phase 2 closes everything left unmatched, in a second run
 * that restores the join's stores from their changelogs.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/log/partitioner.js';
import { joinWindows } from '../../src/processors/stream-join.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { TopologyTestDriver } from '../../src/testing/driver.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';

const ORDER = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] };
const PAYMENT = { type: 'record', name: 'Payment', fields: [{ name: 'amount', type: 'int' }] };
const T0 = Date.UTC(2024, 0, 1);
const P = 3;

function build(): Topology {
  const t = topology({ name: 'orders-payments', version: 1 });
  const out = t.output<string, string>('paid', { key: 'string', value: 'string' });
  const orders = t.source<string, { id: string }>('sj-orders', { key: 'string', value: ORDER });
  const payments = t.source<string, { amount: number }>('sj-payments', { key: 'string', value: PAYMENT });
  orders
    .outerJoin(payments, (o, p) => `${o?.id ?? '-'}/${p?.amount ?? '-'}`, {
      name: 'paid',
      window: joinWindows.of(60_000, 10_000),
      values: { left: ORDER, right: PAYMENT },
    })
    .to(out);
  return t.build();
}

type Input = { topic: 'sj-orders' | 'sj-payments'; key: string; value: unknown; timestampMs: number };

function inputs(): { phase1: Input[]; phase2: Input[] } {
  const phase1: Input[] = [];
  for (let i = 0; i < 60; i++) {
    const key = `c${i % 12}`;
    const ts = T0 + ((i * 7_919) % 30_000); // all within 30 s: one window, any order
    if (i % 4 !== 3) phase1.push({ topic: 'sj-orders', key, value: { id: `o${i}` }, timestampMs: ts });
    if (i % 3 !== 2 && i % 12 < 9) phase1.push({ topic: 'sj-payments', key, value: { amount: i }, timestampMs: ts });
  }
  // Phase 2: per key, a far later order: every task's stream time passes every phase 1 window + grace.
  const phase2: Input[] = [];
  for (let k = 0; k < 12; k++)
    phase2.push({ topic: 'sj-orders', key: `c${k}`, value: { id: `late-closer${k}` }, timestampMs: T0 + 3_600_000 });
  return { phase1, phase2 };
}

describe('stream-stream join on the embedded log (two co-partitioned inputs)', () => {
  const env = tempBackend('eddy-ssjoin-');
  afterAll(() => env.destroy());

  it('joins across the two topics of each task and equals the test driver', async () => {
    const { phase1, phase2 } = inputs();
    const d = await TopologyTestDriver.create(build(), { partitions: { 'sj-orders': P, 'sj-payments': P } });
    let expected: string[];
    try {
      await d.pipeInputs(phase1);
      await d.pipeInputs(phase2);
      expected = d
        .readOutput<string, string>('paid.v1')
        .map((o) => `${o.partition} ${o.key} ${o.value} ${o.timestamp - T0}`)
        .sort();
    } finally {
      await d.close();
    }
    // Inner pairs; `o/-` for the orders of keys c9-c11 (no payments) and the closers; `-/p` for the payments of c3
    // and c7 (no orders).
    expect(expected.filter((e) => / o\d+\/- /.test(e)).length).toBeGreaterThan(0);
    expect(expected.filter((e) => / -\/\d+ /.test(e)).length).toBeGreaterThan(0);
    expect(expected.filter((e) => / o\d+\/\d+ /.test(e)).length).toBeGreaterThan(50);

    const t = build();
    await env.log.createTopics([
      { name: 'sj-orders', partitions: P },
      { name: 'sj-payments', partitions: P },
    ]);
    const serdes = {
      'sj-orders': {
        key: await AvroSerde.create<string>(env.registry, 'sj-orders-key', 'string'),
        value: await AvroSerde.create<unknown>(env.registry, 'sj-orders-value', ORDER),
      },
      'sj-payments': {
        key: await AvroSerde.create<string>(env.registry, 'sj-payments-key', 'string'),
        value: await AvroSerde.create<unknown>(env.registry, 'sj-payments-value', PAYMENT),
      },
    };
    const produce = async (rows: Input[]) => {
      const producer = env.log.producer();
      await producer.send(
        rows.map((r) => {
          const key = serdes[r.topic].key.serialize(r.key);
          return {
            topic: r.topic,
            partition: partitionFor(key, P),
            key,
            value: serdes[r.topic].value.serialize(r.value),
            timestamp: r.timestampMs,
          };
        }),
      );
      await producer.close();
    };
    const run = () =>
      new TopologyRunner(t, { log: env.log, registry: env.registry, stateDir: env.stateDir, untilIdle: true }).run();
    await produce(phase1);
    await run();
    // The second run restores the buffers and the unmatched records from their changelogs (local state deleted), and
    // stream time from the committed offsets.
    rmSync(env.stateDir, { recursive: true, force: true });
    await produce(phase2);
    await run();

    const outKey = await AvroSerde.reader<string>(env.registry, 'paid.v1-key', 'string');
    const outValue = await AvroSerde.reader<string>(env.registry, 'paid.v1-value', 'string');
    const got: string[] = [];
    for (let p = 0; p < P; p++)
      for await (const batch of env.log.read({ topic: 'paid.v1', partition: p }))
        for (const r of batch) {
          if (r.key === null || r.value === null) continue; // transaction markers are not records
          await outKey.prepare([AvroSerde.schemaIdOf(r.key)]);
          await outValue.prepare([AvroSerde.schemaIdOf(r.value)]);
          got.push(`${p} ${outKey.deserialize(r.key)} ${outValue.deserialize(r.value)} ${r.timestamp - T0}`);
        }
    expect(got.sort()).toEqual(expected);
  });

  it('refuses inputs that are not co-partitioned before any write', async () => {
    const t = build();
    const other = tempBackend('eddy-ssjoin-cp-');
    try {
      await other.log.createTopics([
        { name: 'sj-orders', partitions: 3 },
        { name: 'sj-payments', partitions: 2 },
      ]);
      await expect(
        new TopologyRunner(t, {
          log: other.log,
          registry: other.registry,
          stateDir: other.stateDir,
          untilIdle: true,
        }).run(),
      ).rejects.toThrow('reads topics that are not co-partitioned: sj-orders (3), sj-payments (2)');
    } finally {
      await other.destroy();
    }
  });
});
