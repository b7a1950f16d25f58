/**
 * The trace's fast path behind a repartition (src/debug/trace-plan.ts): the repartition sink drops records that cannot
 * reach the traced key before serializing them. These tests pick keys that re-key to the same repartition partition
 * but differ, and check the trace against an independent computation from the input records, so that a filter that
 * drops a contributing record (or, for a window store, a record of another key that moves stream time) fails them:
 * - a key-value aggregation by string key (key filter on) and by a record key given with its properties in another
 *   order than the topology builds it (the filter compares serialized keys, not objects);
 * - a window aggregation (partition filter only): a record of another key of the same partition advances stream time
 *   and makes the traced key's next record late, exactly as the real run dead-letters it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceOutput, traceStore } from '../../src/debug/trace.js';
import { canonicalEncoding, relevantNodes } from '../../src/debug/trace-plan.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { tumbling } from '../../src/processors/window.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { originOf, TopologySerdes } from '../../src/runtime/serdes.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { topology } from '../../src/topology/builder.js';
import type { GraphNode, NodeKind, Topology } from '../../src/topology/graph.js';
import { repartitionTopic } from '../../src/topology/names.js';
import { tempBackend } from '../helpers/backend.js';

const VISIT = {
  type: 'record',
  name: 'Visit',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
    { name: 'weight', type: 'int' },
  ],
};
const PAIR = {
  type: 'record',
  name: 'Pair',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
  ],
};
const TOTAL = {
  type: 'record',
  name: 'Total',
  fields: [
    { name: 'count', type: 'int' },
    { name: 'total', type: 'long' },
  ],
};
interface Visit {
  user: string;
  page: string;
  weight: number;
}
interface Total {
  count: number;
  total: number;
}
const PARTITIONS = 3;
const HOUR_MS = 3_600_000;
const T0 = Date.parse('2001-01-01T00:00:00Z');
const fns = {
  value: TOTAL,
  initializer: (): Total => ({ count: 0, total: 0 }),
  aggregator: (a: Total, v: Visit): Total => ({ count: a.count + 1, total: a.total + v.weight }),
};

/** Visits per page (string key) and per user and page (record key), both through repartitions. */
function buildVisits(): Topology {
  const t = topology({ name: 'visits', version: 1 });
  const visits = t.source<string, Visit>('visits', { key: 'string', value: VISIT });
  const totals = t.output<string, Total>('page-totals', { key: 'string', value: TOTAL });
  visits
    .groupBy('by_page', (r) => r.value.page, { key: 'string', value: VISIT })
    .aggregate('page_totals', fns)
    .toStream('page-updates')
    .to(totals, 'to-page-totals');
  visits
    .groupBy('by_pair', (r) => ({ user: r.value.user, page: r.value.page }), { key: PAIR, value: VISIT })
    .aggregate('pair_totals', fns);
  return t.build();
}

/** Clicks per page and hour (tumbling, no grace), through a repartition. */
function buildClicks(): Topology {
  const t = topology({ name: 'clicks', version: 1 });
  t.source<string, Visit>('clicks', { key: 'string', value: VISIT })
    .groupBy('by_page', (r) => r.value.page, { key: 'string', value: VISIT })
    .windowedBy(tumbling({ sizeMs: HOUR_MS, graceMs: 0 }))
    .aggregate('page_hourly', fns);
  return t.build();
}

describe('trace behind a repartition: the sink filter keeps every contributing record', () => {
  const env = tempBackend('eddy-trace-narrow-');
  const visits = buildVisits();
  const clicks = buildClicks();
  /** Two pages of the same repartition partition, and one of another. */
  let same: [string, string];
  let other: string;
  /** Every input record, decoded, with its position: the independent side of the comparison. */
  const inputs = new Map<string, { partition: number; offset: number; timestamp: number; visit: Visit }[]>();

  async function produce(topic: string, rows: { key: string; visit: Visit; timestamp: number }[]): Promise<void> {
    await env.log.createTopics([{ name: topic, partitions: PARTITIONS }]);
    const key = await AvroSerde.create<string>(env.registry, `${topic}-key`, 'string');
    const value = await AvroSerde.create<Visit>(env.registry, `${topic}-value`, VISIT);
    const producer = env.log.producer();
    await producer.send(
      rows.map((r) => {
        const k = key.serialize(r.key);
        return {
          topic,
          partition: partitionFor(k, PARTITIONS),
          key: k,
          value: value.serialize(r.visit),
          timestamp: r.timestamp,
        };
      }),
    );
    await producer.close();
    const out = [];
    for (let p = 0; p < PARTITIONS; p++)
      for await (const b of env.log.read({ topic, partition: p }))
        for (const r of b)
          out.push({ partition: p, offset: r.offset, timestamp: r.timestamp, visit: value.deserialize(r.value!) });
    inputs.set(topic, out);
  }

  beforeAll(async () => {
    // Pages by the partition of their repartition key, with the serdes a run uses (registered as the run would).
    const serdes = await TopologySerdes.create(visits, env.registry);
    const keySerde = serdes.topic(repartitionTopic('visits', 1, 'by_page')).key;
    const byPartition = new Map<number, string[]>();
    for (let i = 0; i < 40; i++) {
      const page = `page-${i}`;
      const p = partitionFor(keySerde.serialize(page), PARTITIONS);
      byPartition.set(p, [...(byPartition.get(p) ?? []), page]);
    }
    const full = [...byPartition.values()].find((pages) => pages.length >= 2)!;
    same = [full[0], full[1]];
    other = [...byPartition.values()].find((pages) => !pages.includes(same[0]))![0];
    // The clicks' repartition key serializes like the visits' (same schema, both "string"): same partitions.
    const clickSerde = (await TopologySerdes.create(clicks, env.registry)).topic(
      repartitionTopic('clicks', 1, 'by_page'),
    ).key;
    expect(partitionFor(clickSerde.serialize(same[1]), PARTITIONS)).toBe(
      partitionFor(clickSerde.serialize(same[0]), PARTITIONS),
    );

    const pages = [same[0], same[1], other];
    await produce(
      'visits',
      Array.from({ length: 90 }, (_, i) => ({
        key: `u${i % 7}`,
        visit: { user: `u${i % 4}`, page: pages[(i * 5) % 3], weight: i },
        timestamp: T0 + i * 1_000,
      })),
    );
    // One input partition (one key) so the order is the offsets'; A, B same partition, C another.
    const [a, b, c] = pages;
    const click = (page: string, minutes: number, weight: number) => ({
      key: 'w',
      visit: { user: 'w', page, weight },
      timestamp: T0 + minutes * 60_000,
    });
    await produce('clicks', [
      click(a, 10, 1), // applied
      click(b, 120, 2), // another key of the same partition: stream time -> 02:00
      click(a, 20, 4), // late for A's window 00:00 (end + grace 01:00 <= 02:00): dead-lettered
      click(c, 300, 8), // another partition: not replayed downstream
      click(a, 125, 16), // A, another window
    ]);
    for (const t of [visits, clicks])
      await new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        // Small batches: the write cache emits one update per key and batch, and the output test needs several.
        maxBatchRecords: 7,
      }).run();
  }, 120_000);
  afterAll(async () => env.destroy());

  const positions = (xs: { partition: number; offset: number }[]) => xs.map((x) => `${x.partition}:${x.offset}`).sort();

  it('a string key: every visit of the page, none of the page of the same partition', async () => {
    for (const page of same) {
      const expected = inputs.get('visits')!.filter((r) => r.visit.page === page);
      const res = await traceStore({
        log: env.log,
        registry: env.registry,
        topology: visits,
        store: 'page_totals',
        key: page,
      });
      expect(res.repartition.keyFiltered).toEqual([repartitionTopic('visits', 1, 'by_page')]);
      expect(res.repartition.records).toBe(90);
      expect(res.repartition.kept).toBe(expected.length);
      expect(positions(res.steps)).toEqual(positions(expected));
      expect(res.steps.every((s) => s.status === 'applied' && s.topic === 'visits')).toBe(true);
      const total = expected.reduce((n, r) => n + r.visit.weight, 0);
      expect(res.value).toEqual({ count: expected.length, total });
      expect(res.steps.map((s) => (s.value as Total).count)).toEqual(expected.map((_, i) => i + 1));
    }
  });

  it('an output record behind a repartition: every record of its key that may have contributed', async () => {
    // Regression: the output's provenance names one upstream input record, and the trace once replayed no other
    // partition of the upstream input, so it missed the key's records there. The run interleaved the upstream
    // partitions in an order the log does not keep: the trace replays the provenance partition up to that record
    // and the other partitions to their committed positions.
    const page = same[0];
    const keySerde = await AvroSerde.create<string>(env.registry, 'page-totals.v1-key', 'string');
    const valueSerde = await AvroSerde.create<Total>(env.registry, 'page-totals.v1-value', TOTAL);
    const p = partitionFor(keySerde.serialize(page), PARTITIONS);
    const outs: { offset: number; value: Total; origin: { partition: number; offset: number } }[] = [];
    for await (const b of env.log.read({ topic: 'page-totals.v1', partition: p }))
      for (const r of b)
        if (keySerde.deserialize(r.key!) === page)
          outs.push({ offset: r.offset, value: valueSerde.deserialize(r.value!), origin: originOf(r) });
    const expected = inputs.get('visits')!.filter((r) => r.visit.page === page);
    const mid = outs.find((x) => x.value.count >= expected.length / 3 && x.value.count < expected.length)!;
    expect(mid).toBeDefined();
    const res = await traceOutput({
      log: env.log,
      registry: env.registry,
      topology: visits,
      output: 'page-totals.v1',
      partition: p,
      offset: mid.offset,
    });
    const contributing = expected.filter((r) => r.partition !== mid.origin.partition || r.offset <= mid.origin.offset);
    expect(new Set(contributing.map((r) => r.partition)).size).toBeGreaterThan(1);
    expect(positions(res.steps)).toEqual(positions(contributing));
    expect(res.steps.length).toBeGreaterThanOrEqual(mid.value.count);
    expect(res.value).toEqual({
      count: contributing.length,
      total: contributing.reduce((n, r) => n + r.visit.weight, 0),
    });
  });

  it('a record key given with its properties in another order', async () => {
    const expected = inputs.get('visits')!.filter((r) => r.visit.user === 'u1' && r.visit.page === same[1]);
    expect(expected.length).toBeGreaterThan(0);
    const res = await traceStore({
      log: env.log,
      registry: env.registry,
      topology: visits,
      store: 'pair_totals',
      key: { page: same[1], user: 'u1' },
    });
    expect(res.repartition.keyFiltered).toEqual([repartitionTopic('visits', 1, 'by_pair')]);
    expect(positions(res.steps)).toEqual(positions(expected));
    expect(res.value).toEqual({ count: expected.length, total: expected.reduce((n, r) => n + r.visit.weight, 0) });
  });

  it('a window store: another key of the same partition still moves stream time (the real run agrees)', async () => {
    const [a] = same;
    const rows = inputs.get('clicks')!;
    const res = await traceStore({
      log: env.log,
      registry: env.registry,
      topology: clicks,
      store: 'page_hourly',
      key: a,
      windowMs: T0,
    });
    expect(res.repartition.keyFiltered).toEqual([]);
    expect(res.repartition.kept).toBe(rows.filter((r) => r.visit.page !== other).length);
    expect(res.steps.map((s) => [s.offset, s.status, s.value])).toEqual([
      [rows[0].offset, 'applied', { count: 1, total: 1 }],
      [rows[2].offset, 'dead-lettered', { count: 1, total: 1 }],
    ]);
    // The real run dead-lettered the same record.
    const dead = [];
    for (let p = 0; p < PARTITIONS; p++)
      for await (const b of env.log.read({ topic: clicks.deadLetterTopic, partition: p }))
        dead.push(...b.map(originOf));
    expect(dead).toEqual([{ topic: 'clicks', partition: rows[2].partition, offset: rows[2].offset }]);
  });

  it('the key filter needs a canonical key encoding', () => {
    expect(canonicalEncoding('string')).toBe(true);
    expect(canonicalEncoding(PAIR)).toBe(true);
    expect(canonicalEncoding('double')).toBe(false);
    expect(canonicalEncoding(['null', 'float'])).toBe(false);
    expect(canonicalEncoding({ type: 'map', values: 'string' })).toBe(false);
    expect(
      canonicalEncoding({
        type: 'record',
        name: 'K',
        fields: [{ name: 'x', type: { type: 'array', items: 'double' } }],
      }),
    ).toBe(false);
  });

  it('keeps a processor off the path when it shares a store with one on it', () => {
    // source(0) -> writer-of-s(1) ; source(0) -> reader-of-s(2) -> aggregate t(3) ; source(0) -> other(4)
    const node = (
      id: number,
      kind: NodeKind,
      parents: number[],
      children: number[],
      stores: string[] = [],
    ): GraphNode => ({
      id,
      name: `n${id}`,
      kind,
      parents,
      children,
      stores,
      topic: kind === 'source' ? 'in' : undefined,
    });
    const nodes = [
      node(0, 'source', [], [1, 2, 4]),
      node(1, 'agent', [0], [], ['s']),
      node(2, 'agent', [0], [3], ['s']),
      node(3, 'aggregate', [2], [], ['t']),
      node(4, 'map', [0], []),
    ];
    const store = { kind: 'kv' as const, keySchema: 'string', valueSchema: 'string', keyName: 'key' };
    const t = {
      ...visits,
      nodes,
      stores: new Map([
        ['s', { ...store, name: 's', changelog: 'c.s' }],
        ['t', { ...store, name: 't', changelog: 'c.t' }],
      ]),
    } as Topology;
    expect([...relevantNodes(t, nodes[3])].sort()).toEqual([0, 1, 2, 3]);
  });
});
