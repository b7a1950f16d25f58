/**
 * TopologyTestDriver on a small topology (tests/testing/shop.ts): partitioning like production, schemas enforced
 * at the input and at the outputs, dead letters with reason and provenance, windows closed by event time only,
 * global tables fed by pipeInput, stores readable. Its equality with a real run is checked by tests/golden.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { partitionFor, SerdeError, TopologyTestDriver } from '../../src/index.js';
import { buildShop, type Customer, type CustomerSecond, type Order, type Totals } from './shop.js';

const drivers: TopologyTestDriver[] = [];
async function shop(opts: Parameters<typeof TopologyTestDriver.create>[1] = {}, bad = false) {
  const d = await TopologyTestDriver.create(buildShop({ badOutput: bad }), opts);
  drivers.push(d);
  await d.pipeInputs([
    { topic: 'customers', key: 'c1', value: { name: 'Ada', tier: 'gold' } satisfies Customer },
    { topic: 'customers', key: 'c2', value: { name: 'Bob', tier: 'basic' } satisfies Customer },
    { topic: 'customers', key: 'c3', value: { name: 'Cy', tier: 'gold' } satisfies Customer },
  ]);
  return d;
}
const order = (id: string, customer: string, amount: number): Order => ({ id, customer, amount });

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

describe('TopologyTestDriver', () => {
  it('partitions every topic by murmur2 over the serialized key, with the given partition counts', async () => {
    const d = await shop({ partitions: { orders: 3 } });
    const keys = Array.from({ length: 12 }, (_, i) => `c${i}`);
    await d.pipeInputs(keys.map((k) => ({ topic: 'customers', key: k, value: { name: k, tier: `t${k}` } })));
    await d.pipeInputs(
      keys.map((k, i) => ({ topic: 'orders', key: k, value: order(`o${i}`, k, 10), timestampMs: 1_000 })),
    );
    expect(d.partitionsOf('shop.v1.by_tier.repartition')).toBe(3);
    const used = new Set<number>();
    for (const topic of ['orders', 'shop.v1.by_tier.repartition', 'tier-totals.v1'])
      for (const r of d.records(topic)) {
        expect(r.partition, `${topic} ${r.key?.toString('hex')}`).toBe(partitionFor(r.key, 3));
        used.add(r.partition);
      }
    expect(used.size).toBe(3);
    // tasks of the windowed sub-topology are per orders partition: stream time is per partition
    const times = [0, 1, 2].map((p) => d.streamTime('per_customer_second', p));
    expect(times).toEqual([1_000, 1_000, 1_000]);
  });

  it('routes through the repartition topic into the store and the output, decoded', async () => {
    const d = await shop();
    await d.pipeInput('orders', 'c1', order('o1', 'c1', 5), 100);
    await d.pipeInput('orders', 'c2', order('o2', 'c2', 7), 200);
    await d.pipeInput('orders', 'c3', order('o3', 'c3', 11), 300);
    const out = d.readOutput<string, Totals>('tier-totals.v1');
    expect(out.map((o) => [o.key, o.value])).toEqual([
      ['gold', { orders: 1, total: 5 }],
      ['basic', { orders: 1, total: 7 }],
      ['gold', { orders: 2, total: 16 }],
    ]);
    expect(out[2].source).toEqual({ topic: 'orders', partition: 0, offset: 2 });
    expect(out[2].headers['eddy.topology']).toBe('shop.v1');
    expect(out[2].timestamp).toBe(300);
    expect(d.readOutput('tier-totals.v1')).toEqual([]); // reading consumes
    expect(d.kvStore<string, Totals>('totals_by_tier').get('gold')).toEqual({ orders: 2, total: 16 });
    expect(d.kvStore('totals_by_tier').count()).toBe(2);
  });

  it('refuses an input that does not fit its schema before piping anything', async () => {
    const d = await shop();
    await expect(
      d.pipeInputs([
        { topic: 'orders', key: 'c1', value: order('o1', 'c1', 5) },
        { topic: 'orders', key: 'c1', value: { id: 'o2', customer: 'c1', amount: 'five' } },
      ]),
    ).rejects.toThrow(SerdeError);
    expect(d.records('orders')).toEqual([]);
    await expect(d.pipeInput('nope', 'k', 1)).rejects.toThrow(/not an input topic of shop; inputs: orders, customers/);
    const ok = d.serializeInput({ topic: 'orders', key: 'c1', value: order('o1', 'c1', 5) });
    await expect(d.pipeRawInputs([ok, { ...ok, partition: 1 }])).rejects.toThrow(
      /partition 1 of orders is outside \[0, 1\)/,
    );
    expect(d.records('orders')).toEqual([]);
  });

  it('fails the batch when a processor writes a value that does not fit the output schema, writing nothing', async () => {
    const d = await shop({}, true);
    await expect(d.pipeInput('orders', 'c1', order('o1', 'c1', 5), 100)).rejects.toThrow(SerdeError);
    expect(d.records('tier-totals.v1')).toEqual([]);
    expect(d.kvStore('totals_by_tier').count()).toBe(0);
    expect(d.readDeadLetters()).toEqual([]);
  });

  it('dead-letters with reason, processor, provenance and the decoded original value', async () => {
    const d = await shop();
    await d.pipeInput('orders', 'c9', order('o1', 'c9', 5), 100);
    await d.pipeInput('orders', 'c1', order('o2', 'c1', -3), 200);
    await d.pipeRawInputs([{ topic: 'orders', key: Buffer.from('junk'), value: Buffer.from([0, 0xde, 0xad]) }]);
    const dl = d.readDeadLetters();
    expect(dl.map((x) => [x.processor, x.reason, x.source.offset, x.value])).toEqual([
      ['enrich', 'no key "c9" in table customers', 0, order('o1', 'c9', 5)],
      ['check-amount', 'processing error: negative amount -3', 1, order('o2', 'c1', -3)],
      ['deserialize', expect.stringMatching(/^deserialization failed: /), 2, undefined],
    ]);
    expect(dl[0].key).toBe('c9');
    expect(d.stats.deadLetters.get('enrich')).toBe(1);
  });

  it('closes windows only when event time passes their end, and dead-letters late records', async () => {
    const d = await shop();
    await d.pipeInput('orders', 'c1', order('o1', 'c1', 5), 100);
    await d.pipeInput('orders', 'c1', order('o2', 'c1', 6), 900);
    expect(d.readOutput('customer-seconds.v1')).toEqual([]);
    expect(d.streamTime('per_customer_second')).toBe(900);
    expect(d.windowStore<string, Totals>('per_customer_second').get('c1', 0)).toEqual({ orders: 2, total: 11 });
    await d.pipeInput('orders', 'c2', order('o3', 'c2', 1), 1_000);
    const closed = d.readOutput<string, CustomerSecond>('customer-seconds.v1');
    expect(closed.map((o) => o.value)).toEqual([{ customer: 'c1', window_start: 0, orders: 2, total: 11 }]);
    expect(closed[0].timestamp).toBe(900); // the max timestamp of the window's records (Kafka Streams), not end - 1
    await d.pipeInput('orders', 'c1', order('o4', 'c1', 2), 500);
    expect(d.readDeadLetters().map((x) => x.processor)).toEqual(['per_customer_second']);
    expect(d.stats.lateBy.get('per_customer_second')).toBe(1);
    expect(
      d
        .windowStore('per_customer_second')
        .all()
        .map((w) => [w.key, w.windowStartMs, w.windowEndMs]),
    ).toEqual([
      // c1's window [0, 1000) was emitted and then removed (retention = size + grace); c2's is open
      ['c2', 1_000, 2_000],
    ]);
  });

  it('feeds global tables with pipeInput, tombstones included', async () => {
    const d = await shop();
    expect(d.globalTable<string, Customer>('customers').get('c2')).toEqual({ name: 'Bob', tier: 'basic' });
    await d.pipeInput('customers', 'c2', null);
    expect(d.globalTable('customers').size).toBe(2);
    await d.pipeInput('orders', 'c2', order('o1', 'c2', 5), 100);
    expect(d.readDeadLetters().map((x) => x.reason)).toEqual(['no key "c2" in table customers']);
  });

  it('batches like the runtime: undecodable records of a batch are dead-lettered first', async () => {
    for (const [max, expected] of [
      [1, ['check-amount', 'deserialize']],
      [10, ['deserialize', 'check-amount']],
    ] as const) {
      const d = await shop({ maxBatchRecords: max });
      const good = d.serializeInput({ topic: 'orders', key: 'c1', value: order('o1', 'c1', -1) });
      await d.pipeRawInputs([good, { topic: 'orders', key: good.key, value: Buffer.from([1, 2, 3]) }]);
      expect(d.readDeadLetters().map((x) => x.processor)).toEqual(expected);
    }
  });

  it('uses its input clock for records without a timestamp', async () => {
    const d = await TopologyTestDriver.create(buildShop(), { startTimeMs: 5_000, autoAdvanceMs: 10 });
    drivers.push(d);
    await d.pipeInput('orders', 'c1', order('o1', 'c1', 1));
    await d.pipeInput('orders', 'c1', order('o2', 'c1', 1), 42);
    await d.pipeInput('orders', 'c1', order('o3', 'c1', 1));
    d.advanceInputTime(1_000);
    await d.pipeInput('orders', 'c1', order('o4', 'c1', 1));
    expect(d.records('orders').map((r) => r.timestamp)).toEqual([5_000, 42, 5_010, 6_020]);
    expect(d.inputTimeMs).toBe(6_030);
  });

  it('refuses partition counts for topics that are not inputs, and unknown stores', async () => {
    await expect(TopologyTestDriver.create(buildShop(), { partitions: { 'tier-totals.v1': 2 } })).rejects.toThrow(
      /not an input topic/,
    );
    const d = await shop();
    expect(() => d.kvStore('per_customer_second')).toThrow(/Unknown state store/);
  });
});
