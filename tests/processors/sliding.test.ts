import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Flowing, Processor } from '../../src/processors/context.js';
import type { EmitStrategy } from '../../src/processors/session.js';
import { slidingAggregateProcessor } from '../../src/processors/sliding.js';
import type { WindowedValue } from '../../src/processors/window.js';
import { slidingWindows } from '../../src/topology/session.js';
import { FakeContext, recs } from './fake-context.js';
import { runBatches, seeded } from './seeded.js';

/** Sliding windows whose aggregate lists their records' values (appended in place). */
function listWindows(timeDifferenceMs: number, graceMs: number, emit: EmitStrategy = 'final'): Processor {
  return slidingAggregateProcessor<string, number, number[]>(
    'slide',
    'slide',
    slidingWindows({ timeDifferenceMs, graceMs }),
    {
      initializer: () => [],
      aggregator: (a, v) => {
        a.push(v);
        return a;
      },
    },
    emit,
    'dead-letter',
  );
}

type Out = { key: unknown; start: number; end: number; agg: unknown; ts: number };
const out = (rs: readonly Flowing[]): Out[] =>
  rs.map((r) => {
    const v = r.value as WindowedValue<unknown>;
    return { key: r.key, start: v.window.startMs, end: v.window.endMs, agg: v.aggregate, ts: r.timestamp };
  });

describe('slidingWindows', () => {
  it('validates the time difference and grace', () => {
    expect(slidingWindows({ timeDifferenceMs: 10 })).toEqual({ type: 'sliding', timeDifferenceMs: 10, graceMs: 0 });
    expect(() => slidingWindows({ timeDifferenceMs: 0 })).toThrow(
      'sliding window timeDifferenceMs must be an integer >= 1',
    );
  });
});

describe('sliding window aggregation (KStreamSlidingWindowAggregate)', () => {
  let ctx: FakeContext;
  beforeEach(() => {
    ctx = new FakeContext({ window: ['slide'] });
  });
  afterEach(() => ctx.close());

  it('in order: left windows, and the previous record right window when the new record falls in it', () => {
    const o = out(
      runBatches(
        listWindows(10, 100, 'update'),
        ctx,
        recs([
          ['a', 1, 10],
          ['a', 2, 15],
          ['a', 3, 30],
        ]),
        1,
      ),
    );
    expect(o).toEqual([
      { key: 'a', start: 0, end: 10, agg: [1], ts: 10 },
      { key: 'a', start: 5, end: 15, agg: [1, 2], ts: 15 },
      { key: 'a', start: 11, end: 21, agg: [2], ts: 15 },
      { key: 'a', start: 20, end: 30, agg: [3], ts: 30 },
    ]);
  });

  it('out of order: updates the windows it falls in and creates its right window from a later record', () => {
    const o = out(
      runBatches(
        listWindows(10, 100, 'update'),
        ctx,
        recs([
          ['a', 10, 10],
          ['a', 30, 30],
          ['a', 25, 25],
        ]),
        1,
      ),
    );
    expect(o.slice(2)).toEqual([
      { key: 'a', start: 15, end: 25, agg: [25], ts: 25 },
      { key: 'a', start: 20, end: 30, agg: [30, 25], ts: 30 },
      { key: 'a', start: 26, end: 36, agg: [30], ts: 30 },
    ]);
  });

  it('early records (t < timeDifference) share the [0, d] window, as in Kafka Streams', () => {
    const o = out(
      runBatches(
        listWindows(10, 100, 'update'),
        ctx,
        recs([
          ['a', 3, 3],
          ['a', 5, 5],
        ]),
        1,
      ),
    );
    expect(o).toEqual([
      { key: 'a', start: 0, end: 10, agg: [3], ts: 3 },
      { key: 'a', start: 0, end: 10, agg: [3, 5], ts: 5 },
      { key: 'a', start: 4, end: 14, agg: [5], ts: 5 },
    ]);
  });

  it('late: t + d before close time; a record that is not late skips only its closed windows', () => {
    const o = out(
      runBatches(
        listWindows(10, 0, 'update'),
        ctx,
        recs([
          ['a', 100, 100],
          ['a', 50, 50],
          ['a', 95, 95],
        ]),
        1,
      ),
    );
    expect(ctx.late('slide')).toBe(1);
    expect(ctx.deadLetters.map((d) => [d.rec.origin.offset, d.reason.split(':')[0]])).toEqual([[1, 'late record']]);
    // a@95: its left window [85, 95] has closed (95 < close time 100); [90, 100] takes it; its right window is created
    expect(o.slice(1)).toEqual([
      { key: 'a', start: 90, end: 100, agg: [100, 95], ts: 100 },
      { key: 'a', start: 96, end: 106, agg: [100], ts: 100 },
    ]);
  });

  it('emit final: a window closes once stream time passes end + grace, stamped with its largest record timestamp', () => {
    const p = listWindows(10, 5);
    expect(
      out(
        runBatches(
          p,
          ctx,
          recs([
            ['a', 1, 100],
            ['a', 2, 104],
            ['b', 3, 105],
          ]),
          1,
        ),
      ),
    ).toEqual([]);
    // [90, 100] ends at 100: stream time 105 = end + grace keeps it open; 106 closes it
    expect(out(runBatches(p, ctx, recs([['b', 4, 106]], 3), 1))).toEqual([
      { key: 'a', start: 90, end: 100, agg: [1], ts: 100 },
    ]);
    expect(out(runBatches(p, ctx, recs([['b', 5, 200]], 4), 1)).filter((x) => x.key === 'a')).toEqual([
      { key: 'a', start: 94, end: 104, agg: [1, 2], ts: 104 },
      { key: 'a', start: 101, end: 111, agg: [2], ts: 104 },
    ]);
  });

  it('negative event times are dead-lettered; null values dropped', () => {
    runBatches(
      listWindows(10, 0),
      ctx,
      recs([
        ['a', 1, -5],
        ['a', null as unknown as number, 5],
      ]),
      1,
    );
    expect(ctx.deadLetters[0].reason).toBe('sliding windows need event times >= 0 ms since epoch, got -5');
    expect(ctx.dropped('slide')).toBe(1);
  });

  it('retention: windows no record can read any more are removed after emission', () => {
    const rows: [string, number, number][] = [];
    for (let i = 0; i < 300; i++) rows.push([`k${i % 3}`, i, 1000 + i * 7]);
    runBatches(listWindows(10, 0), ctx, recs(rows), 25);
    expect([...ctx.windowStore('slide').entries()].length).toBeLessThan(30);
  });
});

/** KIP-450's definition, computed offline: each record's left window, and its right window when a later record is in it. */
function referenceWindows(input: readonly Flowing<string, number>[], d: number) {
  const byKey = new Map<string, Flowing<string, number>[]>();
  for (const r of input) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const out: { key: string; start: number; end: number; agg: number[]; ts: number }[] = [];
  for (const [key, rs] of byKey) {
    const starts = new Set<number>();
    for (const r of rs) {
      starts.add(r.timestamp - d);
      if (rs.some((q) => q.timestamp > r.timestamp && q.timestamp <= r.timestamp + 1 + d)) starts.add(r.timestamp + 1);
    }
    for (const start of starts) {
      const inside = rs.filter((q) => q.timestamp >= start && q.timestamp <= start + d);
      out.push({
        key,
        start,
        end: start + d,
        agg: inside.map((q) => q.value).sort((a, b) => a - b),
        ts: Math.max(...inside.map((q) => q.timestamp)),
      });
    }
  }
  return out.sort((a, b) => a.start - b.start || a.key.localeCompare(b.key));
}

function generate(seed: number, n: number, graceMs: number) {
  const g = seeded(seed);
  const d = g.int(1, 15);
  let base = 100;
  const rows: [string, number, number][] = [];
  for (let i = 0; i < n; i++) {
    base += g.int(0, 6);
    rows.push([['a', 'b', 'c'][g.int(0, 2)], i, g.next() < 0.2 ? base - g.int(0, 40) : base]);
  }
  rows.push(['~flush', n, base + graceMs + 1000]);
  return { input: recs(rows), d };
}

function runAll(input: readonly Flowing[], d: number, graceMs: number, emit: EmitStrategy, batch: number) {
  const ctx = new FakeContext({ window: ['slide'] });
  try {
    return { o: out(runBatches(listWindows(d, graceMs, emit), ctx, input, batch)), dl: ctx.deadLetters.length };
  } finally {
    ctx.close();
  }
}

describe('sliding window assignment, property test against the KIP-450 definition (seeded)', () => {
  for (let seed = 1; seed <= 20; seed++)
    it(`seed ${seed}: final windows equal the definition; batch sizes 1, 7, 1000 agree; update ends where final does`, () => {
      const { input, d } = generate(seed, 250, 1000);
      const runs = [1, 7, 1000].map((b) => runAll(input, d, 1000, 'final', b));
      const got = runs[0].o
        .map((w) => ({ ...w, agg: [...(w.agg as number[])].sort((a, b) => a - b) }))
        .sort((a, b) => a.start - b.start || String(a.key).localeCompare(String(b.key)));
      expect(runs[0].dl).toBe(0);
      expect(got).toEqual(referenceWindows(input.filter((r) => r.key !== '~flush') as Flowing<string, number>[], d));
      expect(runs[1]).toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
      const last = new Map<string, unknown>();
      for (const u of runAll(input, d, 1000, 'update', 13).o)
        if (u.key !== '~flush') last.set(`${u.key}@${u.start}`, [u.agg, u.ts]);
      expect(last).toEqual(new Map(runs[0].o.map((w) => [`${w.key}@${w.start}`, [w.agg, w.ts]])));
    });

  for (let seed = 50; seed < 60; seed++)
    it(`seed ${seed}, small grace: each window emitted once, holding only its key's records within it`, () => {
      const { input, d } = generate(seed, 250, 3);
      const runs = [1, 1000].map((b) => runAll(input, d, 3, 'final', b));
      expect(runs[1]).toEqual(runs[0]);
      const ids = runs[0].o.map((w) => `${w.key}@${w.start}`);
      expect(new Set(ids).size).toBe(ids.length);
      for (const w of runs[0].o)
        for (const v of w.agg as number[]) {
          expect(input[v].key).toBe(w.key);
          expect(input[v].timestamp).toBeGreaterThanOrEqual(w.start);
          expect(input[v].timestamp).toBeLessThanOrEqual(w.end);
        }
    });
});
