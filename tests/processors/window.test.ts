import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Flowing, Processor } from '../../src/processors/context.js';
import {
  hopping,
  NO_STREAM_TIME,
  tumbling,
  type WindowedValue,
  type WindowSpec,
  windowAggregateProcessor,
  windowsFor,
} from '../../src/processors/window.js';
import { FakeContext, rec, recs } from './fake-context.js';

const HOUR_MS = 3_600_000;

describe('window specs', () => {
  it('tumbling: advance equals size, grace defaults to 0', () => {
    expect(tumbling({ sizeMs: 10 })).toEqual({ sizeMs: 10, advanceMs: 10, graceMs: 0 });
    expect(tumbling({ sizeMs: HOUR_MS, graceMs: 600_000 })).toEqual({
      sizeMs: HOUR_MS,
      advanceMs: HOUR_MS,
      graceMs: 600_000,
    });
    expect(hopping({ sizeMs: 10, advanceMs: 5 })).toEqual({ sizeMs: 10, advanceMs: 5, graceMs: 0 });
  });

  it('rejects bad sizes, advances and graces with a message naming the field', () => {
    expect(() => tumbling({ sizeMs: 0 })).toThrow('window sizeMs must be a positive integer, got 0');
    expect(() => tumbling({ sizeMs: 1.5 })).toThrow('window sizeMs must be a positive integer, got 1.5');
    expect(() => hopping({ sizeMs: 10, advanceMs: 11 })).toThrow(
      'window advanceMs must be an integer in (0, sizeMs], got 11',
    );
    expect(() => hopping({ sizeMs: 10, advanceMs: 0 })).toThrow(RangeError);
    expect(() => tumbling({ sizeMs: 10, graceMs: -1 })).toThrow(
      'window graceMs must be a non-negative integer, got -1',
    );
  });
});

describe('windowsFor', () => {
  const w = (spec: WindowSpec, ts: number) => windowsFor(spec, ts).map((x) => [x.startMs, x.endMs]);

  it('tumbling: one window; boundaries belong to the window they start', () => {
    const t = tumbling({ sizeMs: 10 });
    expect(w(t, 0)).toEqual([[0, 10]]);
    expect(w(t, 9)).toEqual([[0, 10]]);
    expect(w(t, 10)).toEqual([[10, 20]]);
    expect(w(t, 12345)).toEqual([[12340, 12350]]);
  });

  it('tumbling: negative timestamps round down, not toward zero', () => {
    const t = tumbling({ sizeMs: 10 });
    expect(w(t, -1)).toEqual([[-10, 0]]);
    expect(w(t, -10)).toEqual([[-10, 0]]);
    expect(w(t, -11)).toEqual([[-20, -10]]);
    expect(w(tumbling({ sizeMs: HOUR_MS }), -1)).toEqual([[-HOUR_MS, 0]]);
  });

  it('tumbling by the hour on a real timestamp', () => {
    const ts = Date.UTC(2001, 0, 15, 13, 45, 12);
    expect(w(tumbling({ sizeMs: HOUR_MS }), ts)).toEqual([[Date.UTC(2001, 0, 15, 13), Date.UTC(2001, 0, 15, 14)]]);
  });

  it('hopping: size/advance windows, oldest first', () => {
    const h = hopping({ sizeMs: 10, advanceMs: 5 });
    expect(w(h, 7)).toEqual([
      [0, 10],
      [5, 15],
    ]);
    expect(w(h, 5)).toEqual([
      [0, 10],
      [5, 15],
    ]);
    expect(w(h, 4)).toEqual([
      [-5, 5],
      [0, 10],
    ]);
    expect(w(h, 10)).toEqual([
      [5, 15],
      [10, 20],
    ]);
    expect(w(h, -1)).toEqual([
      [-10, 0],
      [-5, 5],
    ]);
    expect(w(h, -5)).toEqual([
      [-10, 0],
      [-5, 5],
    ]);
  });

  it('hopping with an advance that does not divide the size: 3 or 4 windows', () => {
    const h = hopping({ sizeMs: 10, advanceMs: 3 });
    expect(w(h, 7)).toEqual([
      [0, 10],
      [3, 13],
      [6, 16],
    ]);
    expect(w(h, 0)).toEqual([
      [-9, 1],
      [-6, 4],
      [-3, 7],
      [0, 10],
    ]);
  });

  it('every window contains the timestamp and starts at a multiple of the advance (many timestamps)', () => {
    for (const spec of [
      tumbling({ sizeMs: 7 }),
      hopping({ sizeMs: 12, advanceMs: 4 }),
      hopping({ sizeMs: 10, advanceMs: 3 }),
    ]) {
      for (let ts = -50; ts <= 50; ts++) {
        // Brute force: every multiple of the advance in (ts - size, ts].
        const expected: number[][] = [];
        for (let s = -100; s <= 100; s++)
          if (s % spec.advanceMs === 0 && s > ts - spec.sizeMs && s <= ts) expected.push([s, s + spec.sizeMs]);
        expect(w(spec, ts)).toEqual(expected);
      }
    }
  });
});

interface Agg {
  n: number;
  sum: number;
  offsets: number[];
}

/** A window aggregate summing values and listing the offsets folded in (mutating in place, like `addDelay`). */
function sumProcessor(spec: WindowSpec, policy: 'dead-letter' | 'fail' = 'dead-letter', name = 'win'): Processor {
  return windowAggregateProcessor<string, number, Agg>(
    name,
    'win',
    spec,
    {
      initializer: () => ({ n: 0, sum: 0, offsets: [] }),
      aggregator: (agg, v, r) => {
        if (v < 0) throw new Error(`negative value ${v}`);
        agg.n += 1;
        agg.sum += v;
        agg.offsets.push((r as Flowing).origin.offset);
        return agg;
      },
    },
    policy,
  );
}

interface Emitted {
  key: string;
  startMs: number;
  endMs: number;
  aggregate: Agg;
  timestamp: number;
}

/** The emitted records as plain data (deep-copied: emitted aggregates are the cached objects). */
function emitted(out: readonly Flowing[]): Emitted[] {
  return out.map((r) => {
    const v = r.value as WindowedValue<Agg>;
    return {
      key: r.key as string,
      startMs: v.window.startMs,
      endMs: v.window.endMs,
      aggregate: JSON.parse(JSON.stringify(v.aggregate)),
      timestamp: r.timestamp,
    };
  });
}

describe('window aggregate', () => {
  let ctx: FakeContext;
  beforeEach(() => {
    ctx = new FakeContext({ window: ['win'] });
  });
  afterEach(() => ctx.close());

  const run = (p: Processor, records: readonly Flowing[]) => [...(p.process(records, ctx) as Flowing[])];

  it('emits a window only once stream time reaches end + grace, with the final aggregate', () => {
    const p = sumProcessor(tumbling({ sizeMs: 10, graceMs: 5 }));
    expect(run(p, [rec('A', 1, 3, 0)])).toEqual([]);
    expect(ctx.streamTime('win')).toBe(3);
    expect(run(p, [rec('A', 2, 14, 1)])).toEqual([]); // [0,10) open until 15
    expect(run(p, [rec('A', 4, 5, 2)])).toEqual([]); // within grace: accepted into [0,10)
    const closer = rec('B', 8, 15, 3);
    const out = run(p, [closer]);
    expect(emitted(out)).toEqual([
      // stamped with the max timestamp of the window's records (3 and 5), not end - 1
      { key: 'A', startMs: 0, endMs: 10, aggregate: { n: 2, sum: 5, offsets: [0, 2] }, timestamp: 5 },
    ]);
    // provenance: the record that moved stream time past the window
    expect(out[0].origin).toEqual({ topic: 'input', partition: 0, offset: 3 });
    expect(out[0].raw).toBe(closer.raw);
    expect(out[0].headers).toBe(closer.headers);
    expect(ctx.streamTime('win')).toBe(15);
    // [10,20) closes at 25
    expect(run(p, [rec('A', 1, 19, 4)])).toEqual([]);
    expect(run(p, [rec('A', 1, 24, 5)])).toEqual([]);
    expect(emitted(run(p, [rec('C', 1, 25, 6)]))).toEqual([
      { key: 'A', startMs: 10, endMs: 20, aggregate: { n: 2, sum: 3, offsets: [1, 4] }, timestamp: 19 },
      { key: 'B', startMs: 10, endMs: 20, aggregate: { n: 1, sum: 8, offsets: [3] }, timestamp: 15 },
    ]);
    // [20,30) closes at 35: one batch moving stream time far closes it, and nothing newer
    expect(emitted(run(p, [rec('C', 1, 70, 7)]))).toEqual([
      { key: 'A', startMs: 20, endMs: 30, aggregate: { n: 1, sum: 1, offsets: [5] }, timestamp: 24 },
      { key: 'C', startMs: 20, endMs: 30, aggregate: { n: 1, sum: 1, offsets: [6] }, timestamp: 25 },
    ]);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('dead-letters and counts a late record (all its windows closed), without touching the store', () => {
    const p = sumProcessor(tumbling({ sizeMs: 10, graceMs: 5 }));
    run(
      p,
      recs<string, number>([
        ['A', 1, 3],
        ['A', 1, 15],
      ]),
    );
    ctx.commit();
    const late = rec('A', 100, 9, 2);
    expect(run(p, [late])).toEqual([]);
    expect(ctx.late('win')).toBe(1);
    expect(ctx.deadLetters).toEqual([
      {
        rec: late,
        processor: 'win',
        reason:
          'late record: event time 1970-01-01T00:00:00.009Z is past window end + grace (stream time 1970-01-01T00:00:00.015Z)',
      },
    ]);
    // [0,10) was removed when it closed (retention = size + grace); the late record did not bring it back
    expect(ctx.windowStore<string, Agg>('win').get('A', 0)).toBeUndefined();
    expect(ctx.windowStore<string, Agg>('win').get('A', 10)).toEqual({ n: 1, sum: 1, offsets: [1] });
    expect(ctx.windowStore('win').pendingCount).toBe(0);
  });

  it('a record late inside its own batch is judged against stream time so far', () => {
    const p = sumProcessor(tumbling({ sizeMs: 10 }));
    const out = run(
      p,
      recs<string, number>([
        ['A', 1, 5],
        ['A', 1, 10],
        ['A', 1, 9],
        ['A', 1, 20],
      ]),
    );
    expect(emitted(out)).toEqual([
      { key: 'A', startMs: 0, endMs: 10, aggregate: { n: 1, sum: 1, offsets: [0] }, timestamp: 5 },
      { key: 'A', startMs: 10, endMs: 20, aggregate: { n: 1, sum: 1, offsets: [1] }, timestamp: 10 },
    ]);
    expect(ctx.deadLetters.map((d) => d.rec.origin.offset)).toEqual([2]);
    expect(ctx.late('win')).toBe(1);
  });

  it('hopping: a record whose older window closed still updates its open windows and is not late', () => {
    const p = sumProcessor(hopping({ sizeMs: 10, advanceMs: 5 }));
    run(p, [rec('A', 1, 10, 0)]); // windows [5,15) and [10,20); stream time 10 closes [0,10)
    const out = run(p, [rec('A', 2, 7, 1)]); // windows [0,10) (closed) and [5,15) (open)
    expect(out).toEqual([]);
    expect(ctx.deadLetters).toEqual([]);
    expect(ctx.late('win')).toBe(0);
    const ws = ctx.windowStore<string, Agg>('win');
    expect(ws.get('A', 0)).toBeUndefined();
    expect(ws.get('A', 5)).toEqual({ n: 2, sum: 3, offsets: [0, 1] });
    expect(ws.get('A', 10)).toEqual({ n: 1, sum: 1, offsets: [0] });
  });

  it('hopping with negative timestamps emits each closed window, ordered by start then key bytes', () => {
    const p = sumProcessor(hopping({ sizeMs: 10, advanceMs: 5 }));
    const out = run(
      p,
      recs<string, number>([
        ['B', 1, -7],
        ['A', 2, -3],
        ['B', 3, 2],
        ['A', 0, 30],
      ]),
    );
    expect(emitted(out).map((e) => `${e.key}[${e.startMs},${e.endMs})=${e.aggregate.sum}`)).toEqual([
      'B[-15,-5)=1',
      'A[-10,0)=2',
      'B[-10,0)=1',
      'A[-5,5)=2',
      'B[-5,5)=3',
      'B[0,10)=3',
    ]);
  });

  it('emits nothing when stream time does not advance', () => {
    const p = sumProcessor(tumbling({ sizeMs: 10 }));
    run(p, [rec('A', 1, 50, 0)]);
    expect(run(p, [rec('A', 1, 45, 1), rec('A', 1, 50, 2)])).toEqual([]);
    expect(run(p, [])).toEqual([]);
    expect(ctx.streamTime('win')).toBe(50);
  });

  it('starts from no stream time', () => {
    expect(ctx.streamTime('win')).toBe(NO_STREAM_TIME);
    const p = sumProcessor(tumbling({ sizeMs: 10 }));
    // a very old first record is not late: nothing was seen before it
    expect(run(p, [rec('A', 1, -1e12, 0)])).toEqual([]);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('a throwing aggregator dead-letters the record (processing error), or fails the task under fail', () => {
    const p = sumProcessor(tumbling({ sizeMs: 10 }));
    const bad = rec('A', -1, 3, 0);
    run(p, [bad, rec('A', 2, 4, 1)]);
    expect(ctx.deadLetters).toEqual([{ rec: bad, processor: 'win', reason: 'processing error: negative value -1' }]);
    expect(ctx.windowStore<string, Agg>('win').get('A', 0)).toEqual({ n: 1, sum: 2, offsets: [1] });
    expect(() => run(sumProcessor(tumbling({ sizeMs: 10 }), 'fail', 'win2'), [bad])).toThrow('negative value -1');
  });
});

/** mulberry32: a small seeded PRNG, so every run of the property test sees the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 500 records over 5 keys, starting at negative event times, mostly in order, some within grace, some late. */
function makeRecords(seed: number, n = 500): Flowing<string, number>[] {
  const rnd = prng(seed);
  const keys = ['ATL', 'BOS', 'DEN', 'ORD', 'SFO'];
  let t = -3000;
  const out: Flowing<string, number>[] = [];
  for (let i = 0; i < n; i++) {
    t += Math.floor(rnd() * 25);
    const u = rnd();
    const ts = u < 0.7 ? t : u < 0.93 ? t - Math.floor(rnd() * 40) : t - 100 - Math.floor(rnd() * 400);
    out.push(rec(keys[Math.floor(rnd() * keys.length)], Math.floor(rnd() * 100), ts, i));
  }
  return out;
}

/** Splits `records` into batches of random sizes 1..maxSize. */
function randomBatches<T>(records: readonly T[], seed: number, maxSize: number): T[][] {
  const rnd = prng(seed);
  const out: T[][] = [];
  for (let i = 0; i < records.length; ) {
    const size = 1 + Math.floor(rnd() * maxSize);
    out.push(records.slice(i, i + size));
    i += size;
  }
  return out;
}

/**
 * An independent computation of what a window aggregate must emit: stream time as the running max, a record late
 * when every window containing it has closed, windows emitted once closed, by start then key.
 */
function expectedEmissions(
  records: readonly Flowing<string, number>[],
  spec: WindowSpec,
): { emitted: Emitted[]; late: number[] } {
  const closeDelay = spec.sizeMs + spec.graceMs;
  let now = Number.NEGATIVE_INFINITY;
  const aggs = new Map<string, { key: string; startMs: number; agg: Agg; maxMs: number }>();
  const late: number[] = [];
  for (const r of records) {
    now = Math.max(now, r.timestamp);
    const starts: number[] = [];
    for (
      let s = Math.floor(r.timestamp / spec.advanceMs) * spec.advanceMs;
      s + spec.sizeMs > r.timestamp;
      s -= spec.advanceMs
    )
      starts.push(s);
    const open = starts.filter((s) => s + closeDelay > now);
    if (open.length === 0) {
      late.push(r.origin.offset);
      continue;
    }
    for (const s of open.reverse()) {
      const id = `${r.key}@${s}`;
      const e = aggs.get(id) ?? { key: r.key, startMs: s, agg: { n: 0, sum: 0, offsets: [] }, maxMs: r.timestamp };
      e.maxMs = Math.max(e.maxMs, r.timestamp);
      e.agg.n += 1;
      e.agg.sum += r.value;
      e.agg.offsets.push(r.origin.offset);
      aggs.set(id, e);
    }
  }
  const emitted = [...aggs.values()]
    .filter((e) => e.startMs + closeDelay <= now)
    .sort((a, b) => a.startMs - b.startMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => ({
      key: e.key,
      startMs: e.startMs,
      endMs: e.startMs + spec.sizeMs,
      aggregate: e.agg,
      timestamp: e.maxMs, // the max timestamp of the window's records
    }));
  return { emitted, late };
}

describe('window aggregate: emission is independent of batch boundaries', () => {
  interface Result {
    emitted: Emitted[];
    late: number[];
    lateCount: number;
    reasons: string[];
    store: unknown[];
    streamTime: number;
  }

  /** Runs the batches through a fresh context (committing after each), optionally rolling back and retrying some. */
  /**
   * The first difference between two results, or undefined: a short message, because a deep diff of hundreds of
   * emitted windows takes minutes to print.
   */
  function firstDifference(got: Result, want: Result): string | undefined {
    for (const field of Object.keys(want) as (keyof Result)[]) {
      const g = got[field];
      const w = want[field];
      if (!Array.isArray(g) || !Array.isArray(w)) {
        if (g !== w) return `${field}: got ${g}, want ${w}`;
        continue;
      }
      for (let i = 0; i < Math.max(g.length, w.length); i++) {
        const a = JSON.stringify(g[i]);
        const b = JSON.stringify(w[i]);
        if (a !== b) return `${field}[${i}] (of ${g.length} / ${w.length}): got ${a}, want ${b}`;
      }
    }
    return undefined;
  }

  function runAll(spec: WindowSpec, batches: readonly (readonly Flowing[])[], retryEvery = 0): Result {
    const ctx = new FakeContext({ window: ['win'], maxCacheEntries: 7 });
    try {
      const p = sumProcessor(spec);
      const out: Emitted[] = [];
      batches.forEach((batch, i) => {
        if (retryEvery > 0 && i % retryEvery === 0) {
          // an aborted attempt: its outputs, dead letters and store writes are discarded
          const dl = ctx.deadLetters.length;
          const late = ctx.late('win');
          p.process(batch, ctx);
          ctx.rollback();
          ctx.deadLetters.length = dl;
          ctx.lateBy.set('win', late);
        }
        out.push(...emitted(p.process(batch, ctx) as Flowing[]));
        ctx.commit();
      });
      return {
        emitted: out,
        late: ctx.deadLetters.map((d) => d.rec.origin.offset),
        lateCount: ctx.late('win'),
        reasons: ctx.deadLetters.map((d) => d.reason),
        store: [...ctx.windowStore<string, Agg>('win').entries()],
        streamTime: ctx.streamTime('win'),
      };
    } finally {
      ctx.close();
    }
  }

  const specs: [string, WindowSpec][] = [
    ['tumbling 100ms, grace 20ms', tumbling({ sizeMs: 100, graceMs: 20 })],
    ['hopping 100ms every 25ms, grace 10ms', hopping({ sizeMs: 100, advanceMs: 25, graceMs: 10 })],
    ['tumbling 60ms, no grace', tumbling({ sizeMs: 60 })],
  ];

  it.each(specs)('%s: one batch of 500 equals an independent computation', (_n, spec) => {
    const records = makeRecords(1);
    const whole = runAll(spec, [records]);
    const want = expectedEmissions(records, spec);
    expect(whole.emitted).toEqual(want.emitted);
    expect(whole.late).toEqual(want.late);
    expect(whole.lateCount).toBe(want.late.length);
    // the comparison helper of the next test does see differences
    expect(firstDifference({ ...whole, emitted: whole.emitted.slice(1) }, whole)).toMatch(
      /^emitted\[0\] \(of \d+ \/ \d+\): got /,
    );
    expect(firstDifference({ ...whole, streamTime: 0 }, whole)).toBe(`streamTime: got 0, want ${whole.streamTime}`);
    // the data must exercise what is under test
    expect(want.emitted.length).toBeGreaterThan(40);
    expect(want.late.length).toBeGreaterThan(5);
  });

  it.each(specs)(
    '%s: many random batch sizes (several seeds) give the same emissions and the same store',
    (_n, spec) => {
      for (const seed of [1, 2, 3]) {
        const records = makeRecords(seed);
        const whole = runAll(spec, [records]);
        for (const [batchSeed, maxSize] of [
          [10 + seed, 3],
          [20 + seed, 40],
          [30 + seed, 120],
        ]) {
          const batches = randomBatches(records, batchSeed, maxSize);
          expect(batches.length).toBeGreaterThan(1);
          expect(firstDifference(runAll(spec, batches), whole)).toBeUndefined();
        }
        // one record per batch; then random batches with aborted attempts
        expect(firstDifference(runAll(spec, randomBatches(records, 99, 1)), whole)).toBeUndefined();
        expect(firstDifference(runAll(spec, randomBatches(records, 40 + seed, 30), 3), whole)).toBeUndefined();
      }
    },
  );
});
