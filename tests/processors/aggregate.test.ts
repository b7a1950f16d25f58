import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aggregateProcessor } from '../../src/processors/aggregate.js';
import type { Flowing, Processor, Rec } from '../../src/processors/context.js';
import type { Change } from '../../src/processors/table.js';
import { FakeContext, rec, recs, view } from './fake-context.js';

interface Sum {
  n: number;
  sum: number;
  offsets: number[];
}

let ctx: FakeContext;
beforeEach(() => {
  ctx = new FakeContext({ kv: ['sums'] });
});
afterEach(() => ctx.close());

/** The processor's outputs with their new aggregates (it forwards table changes: `Change`, new and old value). */
function run(p: Processor, records: readonly Flowing[]): Flowing[] {
  return newValues(p.process(records, ctx) as Flowing[]);
}

function newValues(out: readonly Flowing[]): Flowing[] {
  return out.map((r) => ({ ...r, value: (r.value as Change<unknown>).newValue }));
}

/** An aggregator that mutates the aggregate in place, as `addDelay` in the flight-delays example does. */
function sums(policy: 'dead-letter' | 'fail' = 'dead-letter', check: (r: Rec<string, number>) => void = () => {}) {
  let inits = 0;
  const p = aggregateProcessor<string, number, Sum>(
    'sums',
    'sums',
    {
      initializer: () => {
        inits++;
        return { n: 0, sum: 0, offsets: [] };
      },
      aggregator: (agg, v, r) => {
        agg.n += 1;
        agg.sum += v;
        check(r);
        agg.offsets.push(r.timestamp);
        return agg;
      },
    },
    policy,
  );
  return { p, inits: () => inits };
}

describe('aggregate', () => {
  it('forwards the latest aggregate of each key updated in the batch, in last-updated order', () => {
    const { p, inits } = sums();
    const input = recs<string, number>([
      ['a', 1, 100],
      ['b', 2, 101],
      ['a', 3, 102],
      ['c', 4, 103],
      ['b', 5, 104],
    ]);
    expect(view(run(p, input))).toEqual([
      { key: 'a', value: { n: 2, sum: 4, offsets: [100, 102] }, timestamp: 102, offset: 2 },
      { key: 'c', value: { n: 1, sum: 4, offsets: [103] }, timestamp: 103, offset: 3 },
      { key: 'b', value: { n: 2, sum: 7, offsets: [101, 104] }, timestamp: 104, offset: 4 },
    ]);
    expect(inits()).toBe(3);
    // One changelog entry per key, in first-written order (the write cache coalesces).
    expect(
      ctx
        .kvStore<string, Sum>('sums')
        .pendingChanges()
        .map((e) => e.key.toString()),
    ).toEqual(['"a"', '"b"', '"c"']);
  });

  it("stamps each update with the max timestamp of its key's records (Kafka Streams' timestamp propagation)", () => {
    const { p } = sums();
    const T = 1_000_000;
    // the example: a@T+5000 then a@T+1000, in separate batches (committed between) and in one batch
    expect(view(run(p, recs<string, number>([['a', 1, T + 5_000]]))).map((r) => r.timestamp)).toEqual([T + 5_000]);
    ctx.commit();
    expect(view(run(p, recs<string, number>([['a', 1, T + 1_000]], 1))).map((r) => r.timestamp)).toEqual([T + 5_000]);
    expect(ctx.kvStore<string, Sum>('sums').getWithTimestamp('a')?.timestampMs).toBe(T + 5_000);
    ctx.commit();
    expect(ctx.changelogs.get('sums')!.map((e) => e.timestampMs)).toEqual([T + 5_000, T + 5_000]);
    ctx.rollback(); // drops the cache: the timestamp comes back from SQLite
    const out = run(
      p,
      recs<string, number>(
        [
          ['a', 1, T + 2_000],
          ['b', 1, T + 3_000],
          ['b', 1, T + 500],
          ['a', 1, T + 9_000],
        ],
        2,
      ),
    );
    expect(view(out).map((r) => [r.key, r.timestamp])).toEqual([
      ['b', T + 3_000],
      ['a', T + 9_000],
    ]);
  });

  it('continues from the committed store in the next batch', () => {
    const { p, inits } = sums();
    run(
      p,
      recs<string, number>([
        ['a', 1, 1],
        ['b', 2, 2],
      ]),
    );
    ctx.commit();
    const out = run(p, recs<string, number>([['a', 10, 3]], 2));
    expect(view(out)).toEqual([{ key: 'a', value: { n: 2, sum: 11, offsets: [1, 3] }, timestamp: 3, offset: 2 }]);
    ctx.commit();
    expect(inits()).toBe(2);
    expect([...ctx.kvStore<string, Sum>('sums').entries()]).toEqual([
      { key: 'a', value: { n: 2, sum: 11, offsets: [1, 3] } },
      { key: 'b', value: { n: 1, sum: 2, offsets: [2] } },
    ]);
    expect(ctx.changelogs.get('sums')!.map((e) => `${e.key}=${e.value}`)).toEqual([
      '"a"={"n":1,"sum":1,"offsets":[1]}',
      '"b"={"n":1,"sum":2,"offsets":[2]}',
      '"a"={"n":2,"sum":11,"offsets":[1,3]}',
    ]);
  });

  it('after a rolled-back batch, a retry of that batch gives the same output as a first try', () => {
    const { p } = sums();
    run(p, recs<string, number>([['a', 1, 1]]));
    ctx.commit();
    const batch = recs<string, number>(
      [
        ['a', 2, 2],
        ['a', 3, 3],
      ],
      1,
    );
    run(p, batch);
    ctx.rollback();
    expect(view(run(p, batch))).toEqual([
      { key: 'a', value: { n: 3, sum: 6, offsets: [1, 2, 3] }, timestamp: 3, offset: 2 },
    ]);
  });

  // Regression: the per-batch "updated" map was keyed by the key value itself, so structured keys (a fresh object per
  // record, e.g. from `groupBy((r) => ({ origin, destination }))`) were forwarded once per record, not once per key.
  it('forwards one record per structured key, as the store coalesces them', () => {
    const ctx2 = new FakeContext({ kv: ['routes'] });
    try {
      const p = aggregateProcessor<{ from: string; to: string }, number, number>(
        'routes',
        'routes',
        { initializer: () => 0, aggregator: (a, v) => a + v },
        'fail',
      );
      const input = [
        rec({ from: 'SFO', to: 'BOS' }, 1, 1, 0),
        rec({ from: 'BOS', to: 'SFO' }, 2, 2, 1),
        rec({ from: 'SFO', to: 'BOS' }, 3, 3, 2),
      ];
      expect(view(newValues(p.process(input, ctx2) as Flowing[]))).toEqual([
        { key: { from: 'BOS', to: 'SFO' }, value: 2, timestamp: 2, offset: 1 },
        { key: { from: 'SFO', to: 'BOS' }, value: 4, timestamp: 3, offset: 2 },
      ]);
      expect(ctx2.kvStore('routes').pendingCount).toBe(2);
    } finally {
      ctx2.close();
    }
  });

  it('an empty batch forwards nothing', () => {
    expect(run(sums().p, [])).toEqual([]);
  });

  it('dead-letters a record whose aggregator throws; the key is not forwarded for it', () => {
    const { p } = sums('dead-letter', (r) => {
      if (r.value < 0) throw new Error(`negative ${r.value}`);
    });
    const input = recs<string, number>([
      ['a', 1, 1],
      ['b', -2, 2],
      ['c', 3, 3],
    ]);
    expect(run(p, input).map((r) => r.key)).toEqual(['a', 'c']);
    expect(ctx.deadLetters).toEqual([{ rec: input[1], processor: 'sums', reason: 'processing error: negative -2' }]);
  });

  it('rethrows under the fail policy', () => {
    const { p } = sums('fail', () => {
      throw new Error('nope');
    });
    expect(() => run(p, recs<string, number>([['a', 1, 1]]))).toThrow('nope');
    expect(ctx.deadLetters).toEqual([]);
  });

  // Known bug (not fixed here): the write cache hands the aggregator the cached object itself, so an aggregator
  // that mutates the aggregate in place and then throws leaves its partial update in the cache, although the
  // record was dead-lettered. The next record of that key folds into the corrupted aggregate.
  // A fix needs a copy of the aggregate before the aggregator runs (or dropping the key from the cache on a throw).
  it.fails('a dead-lettered record leaves no trace in the aggregate, even when the aggregator mutated it in place', () => {
    const { p } = sums('dead-letter', (r) => {
      if (r.value < 0) throw new Error('negative');
    });
    run(p, recs<string, number>([['a', 1, 1]]));
    ctx.commit();
    const out = run(
      p,
      recs<string, number>(
        [
          ['a', -100, 2],
          ['a', 2, 3],
        ],
        1,
      ),
    );
    expect(view(out)).toEqual([{ key: 'a', value: { n: 2, sum: 3, offsets: [1, 3] }, timestamp: 3, offset: 2 }]);
  });
});
