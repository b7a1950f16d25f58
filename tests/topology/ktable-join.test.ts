/**
 * The Kafka Streams DSL guide's join semantics tables (docs/streams/developer-guide/dsl-api.html, "Semantics of
 * stream-table joins" and "Semantics of table-table equi-joins"), every row's input and expected output, run through
 * `TopologyTestDriver`: one key, records in timestamp order, null = a tombstone (a table) or a null value (a stream).
 * Each joined value is `[left, right]`; an expected null is a tombstone of the joined table.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Table, TopologyTestDriver, topology } from '../../src/index.js';

const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

/** The docs' inputs: timestamp, side, value (null = tombstone / null value). */
const INPUTS: [number, 'left' | 'right', string | null][] = [
  [1, 'left', null],
  [2, 'right', null],
  [3, 'left', 'A'],
  [4, 'right', 'a'],
  [5, 'left', 'B'],
  [6, 'right', 'b'],
  [7, 'left', null],
  [8, 'right', null],
  [9, 'left', 'C'],
  [10, 'right', 'c'],
  [11, 'right', null],
  [12, 'left', null],
  [13, 'right', null],
  [14, 'right', 'd'],
  [15, 'left', 'D'],
];

const joinedSchema = { type: 'array', items: ['null', 'string'] } as const;
const pair = (l: string | null, r: string | null) => [l, r];

async function run(build: (t: ReturnType<typeof topology>) => void, maxBatchRecords?: number) {
  const t = topology({ name: 'joins', version: 1 });
  build(t);
  const d = await TopologyTestDriver.create(t.build(), { maxBatchRecords });
  drivers.push(d);
  // One record per call: each is processed before the next is piped, in timestamp order.
  for (const [ts, side, value] of INPUTS) await d.pipeInput(side, 'k', value, ts);
  return d;
}

async function tableTable(kind: 'join' | 'leftJoin' | 'outerJoin', maxBatchRecords?: number) {
  const d = await run((t) => {
    const left: Table<string, string> = t.table('left_table', 'left', { key: 'string', value: 'string' });
    const right: Table<string, string> = t.table('right_table', 'right', { key: 'string', value: 'string' });
    const out = t.output<string, (string | null)[]>('joined', { key: 'string', value: joinedSchema });
    const joined =
      kind === 'join'
        ? left.join(right, pair, { name: 'lr' })
        : kind === 'leftJoin'
          ? left.leftJoin(right, pair, { name: 'lr' })
          : left.outerJoin(right, pair, { name: 'lr' });
    joined.toStream().to(out);
  }, maxBatchRecords);
  return d.readOutput<string, (string | null)[]>('joined.v1').map((r) => [r.timestamp, r.value]);
}

describe('KTable-KTable join semantics (Kafka Streams DSL guide)', () => {
  it('inner join', async () => {
    expect(await tableTable('join')).toEqual([
      [4, ['A', 'a']],
      [5, ['B', 'a']],
      [6, ['B', 'b']],
      [7, null],
      [10, ['C', 'c']],
      [11, null],
      [15, ['D', 'd']],
    ]);
  });

  it('left join', async () => {
    expect(await tableTable('leftJoin')).toEqual([
      [3, ['A', null]],
      [4, ['A', 'a']],
      [5, ['B', 'a']],
      [6, ['B', 'b']],
      [7, null],
      [9, ['C', null]],
      [10, ['C', 'c']],
      [11, ['C', null]],
      [12, null],
      [15, ['D', 'd']],
    ]);
  });

  it('outer join', async () => {
    expect(await tableTable('outerJoin')).toEqual([
      [3, ['A', null]],
      [4, ['A', 'a']],
      [5, ['B', 'a']],
      [6, ['B', 'b']],
      [7, [null, 'b']],
      [8, null],
      [9, ['C', null]],
      [10, ['C', 'c']],
      [11, ['C', null]],
      [12, null],
      [14, [null, 'd']],
      [15, ['D', 'd']],
    ]);
  });

  it('gives the same outputs with batches of 1 and of 1000 records', async () => {
    for (const kind of ['join', 'leftJoin', 'outerJoin'] as const)
      expect(await tableTable(kind, 1)).toEqual(await tableTable(kind, 1000));
  });
});

describe('KStream-KTable join semantics (Kafka Streams DSL guide)', () => {
  async function streamTable(kind: 'join' | 'leftJoin') {
    const d = await run((t) => {
      const left = t.source<string, string>('left', { key: 'string', value: 'string' });
      const right = t.table<string, string>('right_table', 'right', { key: 'string', value: 'string' });
      const out = t.output<string, (string | null)[]>('joined', { key: 'string', value: joinedSchema });
      const joined =
        kind === 'join'
          ? left.join(right, (v, tv) => pair(v, tv), { name: 'lr' })
          : left.leftJoin(right, (v, tv) => pair(v, tv), { name: 'lr' });
      joined.to(out);
    });
    // The stream's null values (timestamps 1, 7, 12) are dead-lettered at deserialization, as every stream topic's
    // (Kafka Streams drops them in the join): no join result either way.
    expect(d.readDeadLetters().map((r) => r.timestamp)).toEqual([1, 7, 12]);
    return d.readOutput<string, (string | null)[]>('joined.v1').map((r) => [r.timestamp, r.value]);
  }

  it('inner join', async () => {
    expect(await streamTable('join')).toEqual([
      [5, ['B', 'a']],
      [15, ['D', 'd']],
    ]);
  });

  it('left join', async () => {
    expect(await streamTable('leftJoin')).toEqual([
      [3, ['A', null]],
      [5, ['B', 'a']],
      [9, ['C', null]],
      [15, ['D', 'd']],
    ]);
  });
});

describe('result timestamps (Kafka Streams timestamp propagation)', () => {
  it('a table-table join result carries max(left, right), also when updates come out of order', async () => {
    const t = topology({ name: 'joins', version: 1 });
    const left = t.table<string, string>('left_table', 'left', { key: 'string', value: 'string' });
    const right = t.table<string, string>('right_table', 'right', { key: 'string', value: 'string' });
    left
      .join(right, pair, { name: 'lr' })
      .toStream()
      .to(t.output('joined', { key: 'string', value: joinedSchema }));
    const d = await TopologyTestDriver.create(t.build());
    drivers.push(d);
    await d.pipeInput('left', 'k', 'A', 10);
    await d.pipeInput('right', 'k', 'a', 5);
    await d.pipeInput('right', 'k', 'b', 3);
    await d.pipeInput('left', 'k', 'B', 7);
    await d.pipeInput('left', 'k', 'C', 12);
    expect(d.readOutput('joined.v1').map((r) => [r.timestamp, r.value])).toEqual([
      [10, ['A', 'a']],
      [10, ['A', 'b']],
      [7, ['B', 'b']],
      [12, ['C', 'b']],
    ]);
  });

  it('a KGroupedTable aggregate carries the largest timestamp of its records; the table store keeps timestamps', async () => {
    const t = topology({ name: 'ts', version: 1 });
    t.table<string, string>('users', 'users', { key: 'string', value: 'string' })
      .groupBy('by-region', (_k, region) => ({ key: region, value: region }), { key: 'string', value: 'string' })
      .count('per_region')
      .toStream()
      .to(t.output('counts', { key: 'string', value: 'long' }));
    const d = await TopologyTestDriver.create(t.build());
    drivers.push(d);
    await d.pipeInput('users', 'u1', 'eu', 10);
    await d.pipeInput('users', 'u2', 'eu', 5);
    await d.pipeInput('users', 'u1', null, 7);
    await d.pipeInput('users', 'u3', 'eu', 20);
    expect(d.readOutput('counts.v1').map((r) => [r.value, r.timestamp])).toEqual([
      [1, 10],
      [2, 10],
      [1, 10],
      [2, 20],
    ]);
  });
});
