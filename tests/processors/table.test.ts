/**
 * Table processors with no log (FakeContext: real SQLite stores, JSON serdes): tombstones through every table
 * operator (source, filter, mapValues, toStream, groupBy, aggregate, joins), groupBy moving a key between groups, and
 * the Change records the stream aggregation now forwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aggregateProcessor } from '../../src/processors/aggregate.js';
import type { Flowing, Processor } from '../../src/processors/context.js';
import {
  type Change,
  copyValue,
  storeGetter,
  tableFilterProcessor,
  tableMapValuesProcessor,
  tableSourceProcessor,
  toStreamProcessor,
} from '../../src/processors/table.js';
import {
  changeSchema,
  reduceFns,
  sameKey,
  tableAggregateProcessor,
  tableGroupByProcessor,
} from '../../src/processors/table-aggregate.js';
import { streamTableJoinProcessor, tableJoinGetter, tableJoinSideProcessor } from '../../src/processors/table-join.js';
import { parseSchema } from '../../src/schema/avro.js';
import { FakeContext, rec, recs } from './fake-context.js';

let ctx: FakeContext;
beforeEach(() => {
  ctx = new FakeContext({ kv: ['t', 'agg', 'other'] });
});
afterEach(() => ctx.close());

const run = (p: Processor, records: readonly Flowing[]) => [...(p.process(records, ctx) as Flowing[])];
const changes = (out: readonly Flowing[]) => out.map((r) => [r.key, r.value, r.timestamp]);
const ch = <V>(newValue: V | null, oldValue: V | null): Change<V> => ({ newValue, oldValue });
/** A table processor asked for old values, as `Table.requireOldValues` does when an operator downstream needs them. */
const withOldValues = <P extends { sendOldValues: boolean }>(p: P): P => {
  p.sendOldValues = true;
  return p;
};

describe('tableSourceProcessor', () => {
  it('upserts, deletes on a tombstone, forwards Change(new, old); a null key is dropped and counted', () => {
    const p = tableSourceProcessor('t', 't');
    const out = run(
      p,
      recs<string | null, number | null>([
        ['a', 1, 1],
        ['a', 2, 2],
        [null, 9, 3],
        ['a', null, 4],
        ['b', null, 5],
      ]),
    );
    expect(changes(out)).toEqual([
      ['a', ch(1, null), 1],
      ['a', ch(2, 1), 2],
      ['a', ch(null, 2), 4],
      ['b', ch(null, null), 5], // a tombstone for a key that never existed: forwarded, as Kafka Streams does
    ]);
    expect(ctx.droppedBy.get('t')).toBe(1);
    ctx.commit();
    expect(ctx.kvStore('t').get('a')).toBeUndefined();
    // the changelog: a's delete is one tombstone (the batch's writes to a key coalesce), b's too
    expect(ctx.changelogs.get('t')!.map((e) => [e.key.toString(), e.value])).toEqual([
      ['"a"', null],
      ['"b"', null],
    ]);
  });
});

describe('tableFilterProcessor', () => {
  it('forwards a tombstone only for a key whose old value passed', () => {
    const p = withOldValues(tableFilterProcessor<string, number>('f', (v) => v > 10, 'fail'));
    const input = [
      rec('a', ch(20, null), 1, 0), // enters
      rec('a', ch(5, 20), 2, 1), // leaves: tombstone
      rec('a', ch(3, 5), 3, 2), // never passed: nothing
      rec('b', ch(null, 30), 4, 3), // deleted after passing: tombstone
      rec('c', ch(null, 1), 5, 4), // deleted, never passed: nothing
      rec('d', ch(null, null), 6, 5), // tombstone of nothing: nothing
      rec('e', ch(15, 12), 7, 6), // updated while passing
    ];
    expect(changes(run(p, input))).toEqual([
      ['a', ch(20, null), 1],
      ['a', ch(null, 20), 2],
      ['b', ch(null, 30), 4],
      ['e', ch(15, 12), 7],
    ]);
    expect(ctx.droppedBy.get('f')).toBe(3);
  });
});

describe('tableMapValuesProcessor and toStreamProcessor', () => {
  it('map the new and old values, null stays null; toStream gives the new value, null for a delete', () => {
    const m = withOldValues(tableMapValuesProcessor<string, number, string>('m', (v, k) => `${k}=${v}`, 'fail'));
    const mapped = run(m, [rec('a', ch(1, null), 1, 0), rec('a', ch(null, 1), 2, 1), rec('b', ch(null, null), 3, 2)]);
    expect(changes(mapped)).toEqual([
      ['a', ch('a=1', null), 1],
      ['a', ch(null, 'a=1'), 2],
      ['b', ch(null, null), 3],
    ]);
    expect(changes(run(toStreamProcessor(), mapped))).toEqual([
      ['a', 'a=1', 1],
      ['a', null, 2],
      ['b', null, 3],
    ]);
  });
});

describe('tableGroupByProcessor', () => {
  const p = () =>
    tableGroupByProcessor<string, { g: string | null; n: number }, string, number>(
      'g',
      (_k, v) => ({ key: v.g as string, value: v.n }),
      'fail',
    );
  it('sends the old value to the old group first, then the new value to the new group', () => {
    const out = run(p(), [rec('u', ch({ g: 'B', n: 2 }, { g: 'A', n: 1 }), 1, 0)]);
    expect(changes(out)).toEqual([
      ['A', ch(null, 1), 1],
      ['B', ch(2, null), 1],
    ]);
  });
  it('sends one record with both values when the group stays (structured keys compared by value)', () => {
    const q = tableGroupByProcessor<string, number, { r: string; z: number }, number>(
      'g',
      (_k, v) => ({ key: { r: 'x', z: 1 }, value: v }),
      'fail',
    );
    expect(changes(run(q, [rec('u', ch(2, 1), 1, 0)]))).toEqual([[{ r: 'x', z: 1 }, ch(2, 1), 1]]);
  });
  it('a delete subtracts only; a change from nothing to nothing and null group keys send nothing', () => {
    const out = run(p(), [
      rec('u', ch(null, { g: 'A', n: 1 }), 1, 0),
      rec('v', ch(null, null), 2, 1),
      rec('w', ch({ g: null, n: 3 }, null), 3, 2),
    ]);
    expect(changes(out)).toEqual([['A', ch(null, 1), 1]]);
    expect(ctx.droppedBy.get('g')).toBe(2);
  });
});

describe('tableAggregateProcessor', () => {
  const sum = () =>
    tableAggregateProcessor<string, number, number>(
      'agg',
      'agg',
      { initializer: () => 0, adder: (_k, v, a) => a + v, subtractor: (_k, v, a) => a - v },
      'fail',
    );
  it('subtracts the old value, then adds the new one; a group emptied keeps its aggregate', () => {
    const out = run(withOldValues(sum()), [
      rec('A', ch(5, null), 1, 0),
      rec('A', ch(7, 5), 2, 1),
      rec('A', ch(null, 7), 3, 2),
      rec('B', ch(null, 4), 4, 3), // nothing to subtract from: B stays absent
    ]);
    expect(changes(out)).toEqual([
      ['A', ch(5, null), 1],
      ['A', ch(7, 5), 2],
      ['A', ch(0, 7), 3],
      ['B', ch(null, null), 4],
    ]);
    expect(ctx.kvStore('agg').get('A')).toBe(0);
    expect(ctx.kvStore('agg').get('B')).toBeUndefined();
  });
  it('reduce: the first value is the aggregate', () => {
    const p = withOldValues(
      tableAggregateProcessor<string, number, number>(
        'agg',
        'agg',
        reduceFns<string, number>(
          (a, v) => a * v,
          (a, v) => a / v,
        ),
        'fail',
      ),
    );
    expect(
      changes(run(p, [rec('A', ch(3, null), 1, 0), rec('A', ch(4, null), 2, 1), rec('A', ch(null, 3), 3, 2)])),
    ).toEqual([
      ['A', ch(3, null), 1],
      ['A', ch(12, 3), 2],
      ['A', ch(4, 12), 3],
    ]);
  });
});

describe('table joins', () => {
  it('stream-table: inner drops a miss (counted), left joins null; the stream record keeps its timestamp', () => {
    ctx.kvStore<string, string>('t').put('a', 'x');
    const input = [rec('a', 'A', 10, 0), rec('b', 'B', 11, 1)];
    const join = (kind: 'inner' | 'left') =>
      streamTableJoinProcessor<string, string, string, string>({
        name: 'j',
        table: storeGetter('t'),
        joiner: (v, tv) => `${v}${tv}`,
        kind,
        policy: 'fail',
      });
    expect(changes(run(join('inner'), input))).toEqual([['a', 'Ax', 10]]);
    expect(ctx.droppedBy.get('j')).toBe(1);
    expect(changes(run(join('left'), input))).toEqual([
      ['a', 'Ax', 10],
      ['b', 'Bnull', 11],
    ]);
    // a null key matches no row: inner drops it (counted), left joins it with null (KIP-962)
    const nullKey = [rec(null as unknown as string, 'N', 12, 2)];
    expect(changes(run(join('inner'), nullKey))).toEqual([]);
    expect(ctx.droppedBy.get('j')).toBe(2);
    expect(changes(run(join('left'), nullKey))).toEqual([[null, 'Nnull', 12]]);
  });

  it('table-table sides: a row that disappears forwards a tombstone; the joined getter reads both stores', () => {
    ctx.kvStore<string, string>('other').put('a', 'r');
    const side = withOldValues(
      tableJoinSideProcessor<string, string, string, string>({
        name: 'j-this',
        other: storeGetter('other'),
        joiner: (l, r) => `${l}+${r}`,
        thisOuter: false,
        otherOuter: false,
        policy: 'fail',
      }),
    );
    expect(
      changes(run(side, [rec('a', ch('L', null), 5, 0), rec('a', ch(null, 'L'), 6, 1), rec('z', ch('Z', null), 7, 2)])),
    ).toEqual([
      ['a', ch('L+r', null), 5],
      ['a', ch(null, 'L+r'), 6],
    ]);
    ctx.kvStore<string, string>('t').put('a', 'L');
    const get = tableJoinGetter<string, string, string, string>(
      storeGetter('t'),
      storeGetter('other'),
      'inner',
      (l, r) => `${l}+${r}`,
    );
    expect(get(ctx, 'a')?.value).toBe('L+r');
    expect(get(ctx, 'z')).toBeUndefined();
    const outer = tableJoinGetter<string, string, string, string>(
      storeGetter('t'),
      storeGetter('other'),
      'outer',
      (l, r) => `${l}+${r}`,
    );
    ctx.kvStore<string, string>('t').put('q', 'Q');
    expect(outer(ctx, 'q')?.value).toBe('Q+null');
  });
});

describe('aggregateProcessor forwards table changes', () => {
  it('the old value is the aggregate before the batch, even when the aggregator mutates it in place', () => {
    const p = withOldValues(
      aggregateProcessor<string, number, { n: number }>(
        'agg',
        'agg',
        {
          initializer: () => ({ n: 0 }),
          aggregator: (a, v) => {
            a.n += v;
            return a;
          },
        },
        'fail',
      ),
    );
    expect(changes(run(p, recs([['k', 1, 1]])))).toEqual([['k', ch({ n: 1 }, null), 1]]);
    ctx.commit();
    const out = run(
      p,
      recs([
        ['k', 2, 2],
        ['k', 3, 3],
      ]),
    );
    expect(changes(out)).toEqual([['k', ch({ n: 6 }, { n: 1 }), 3]]);
  });
});

describe('old values only when asked (Kafka Streams sendOldValues)', () => {
  it('mapValues, the table aggregate and the stream aggregate leave the old value null unless asked', () => {
    let calls = 0;
    const m = tableMapValuesProcessor<string, number, number>(
      'm',
      (v) => {
        calls++;
        return v * 2;
      },
      'fail',
    );
    expect(changes(run(m, [rec('a', ch(2, 1), 1, 0)]))).toEqual([['a', ch(4, null), 1]]);
    expect(calls).toBe(1); // the old value was not mapped
    const agg = aggregateProcessor<string, number, number>(
      'agg',
      'agg',
      { initializer: () => 0, aggregator: (a, v) => a + v },
      'fail',
    );
    run(agg, recs([['k', 1, 1]]));
    ctx.commit();
    expect(changes(run(agg, recs([['k', 2, 2]])))).toEqual([['k', ch(3, null), 2]]);
  });
});

describe('helpers', () => {
  it('changeSchema wraps the value schema: a named type is defined once and referenced by its full name', () => {
    const user = { type: 'record', name: 'User', namespace: 'a.b', fields: [{ name: 'x', type: 'long' }] };
    const type = parseSchema(changeSchema('by-region', user));
    const v = { newValue: { x: 1 }, oldValue: null };
    expect(type.fromBuffer(type.toBuffer(v))).toEqual(v);
    expect(parseSchema(changeSchema('p', 'long')).isValid({ newValue: 1, oldValue: 2 })).toBe(true);
    const union = parseSchema(changeSchema('u', ['null', user, 'string']));
    expect(union.isValid({ newValue: 'x', oldValue: { x: 2 } })).toBe(true);
    const arr = parseSchema(changeSchema('a', { type: 'array', items: user }));
    expect(arr.isValid({ newValue: [{ x: 1 }], oldValue: [] })).toBe(true);
    const plain = { type: 'record', name: 'Plain', fields: [{ name: 'y', type: 'string' }] };
    expect(parseSchema(changeSchema('q', plain)).isValid({ newValue: null, oldValue: { y: 'z' } })).toBe(true);
  });
  it('copyValue copies objects, arrays and Buffers deeply; Buffers stay Buffers', () => {
    const v = { a: [1, { b: 2 }], c: Buffer.from('x'), d: null, e: 'e' };
    const c = copyValue(v);
    expect(c).toEqual(v);
    expect(Buffer.isBuffer(c.c)).toBe(true);
    (v.a[1] as { b: number }).b = 3;
    v.c[0] = 0x79;
    expect(c).toEqual({ a: [1, { b: 2 }], c: Buffer.from('x'), d: null, e: 'e' });
  });
  it('sameKey compares group keys by value', () => {
    expect(sameKey({ a: 1, b: 'x' }, { b: 'x', a: 1 })).toBe(true);
    expect(sameKey({ a: 1 }, { a: 2 })).toBe(false);
    expect(sameKey('a', 'a')).toBe(true);
    expect(sameKey(1, '1')).toBe(false);
  });
});
