import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Flowing, Processor } from '../../src/processors/context.js';
import { type EmitStrategy, sessionAggregateProcessor } from '../../src/processors/session.js';
import type { WindowedValue } from '../../src/processors/window.js';
import { sessionWindows } from '../../src/topology/session.js';
import { FakeContext, recs } from './fake-context.js';
import { runBatches, seeded } from './seeded.js';

/** Sessions whose aggregate lists their records' values (merges concatenate, oldest session first). */
function listSessions(gapMs: number, graceMs: number, emit: EmitStrategy = 'final'): Processor {
  return sessionAggregateProcessor<string, number, number[]>(
    'sess',
    'sess',
    sessionWindows({ gapMs, graceMs }),
    {
      initializer: () => [],
      aggregator: (a, v) => {
        a.push(v); // in place: the processor must not let this leak into an earlier update
        return a;
      },
      merger: (a, b) => [...a, ...b],
    },
    emit,
    'dead-letter',
  );
}

type Out = { key: unknown; start: number; end: number; agg: unknown; ts: number; offset: number };
const out = (rs: readonly Flowing[]): Out[] =>
  rs.map((r) => {
    const v = r.value as WindowedValue<unknown>;
    return {
      key: r.key,
      start: v.window.startMs,
      end: v.window.endMs,
      agg: v.aggregate,
      ts: r.timestamp,
      offset: r.origin.offset,
    };
  });

describe('sessionWindows', () => {
  it('validates gap and grace, grace defaulting to 0', () => {
    expect(sessionWindows({ gapMs: 5 })).toEqual({ type: 'session', gapMs: 5, graceMs: 0 });
    expect(() => sessionWindows({ gapMs: 0 })).toThrow('session window gapMs must be an integer >= 1 (ms), got 0');
    expect(() => sessionWindows({ gapMs: 5, graceMs: -1 })).toThrow('session window graceMs must be an integer >= 0');
  });
});

describe('session window aggregation', () => {
  let ctx: FakeContext;
  beforeEach(() => {
    ctx = new FakeContext({ window: ['sess'] });
  });
  afterEach(() => ctx.close());

  it("Kafka Streams' SessionWindows example: gap 5, A@10, A@12, A@20 are two sessions; A@16 merges them into [10, 20]", () => {
    const p = listSessions(5, 100, 'update');
    const o = out(
      runBatches(
        p,
        ctx,
        recs([
          ['A', 1, 10],
          ['A', 2, 12],
          ['A', 3, 20],
        ]),
        1,
      ),
    );
    expect(o.filter((x) => x.agg !== null).map((x) => [x.start, x.end])).toEqual([
      [10, 10],
      [10, 12],
      [20, 20],
    ]);
    expect(
      ctx
        .windowStore<string, { endMs: number }>('sess')
        .fetch('A', 0, 100)
        .map((s) => [s.windowStartMs, s.value.endMs]),
    ).toEqual([
      [10, 12],
      [20, 20],
    ]);
    const merged = out(runBatches(p, ctx, recs([['A', 4, 16]], 3), 1));
    expect(merged.at(-1)).toEqual({ key: 'A', start: 10, end: 20, agg: [1, 2, 3, 4], ts: 20, offset: 3 });
  });

  it('a record bridging two sessions merges them; updates retract the merged sessions with tombstones', () => {
    const p = listSessions(10, 100, 'update');
    const o = out(
      runBatches(
        p,
        ctx,
        recs([
          ['a', 1, 0],
          ['a', 2, 20],
          ['a', 3, 10],
        ]),
        1,
      ),
    );
    expect(o).toEqual([
      { key: 'a', start: 0, end: 0, agg: [1], ts: 0, offset: 0 },
      { key: 'a', start: 20, end: 20, agg: [2], ts: 20, offset: 1 },
      { key: 'a', start: 0, end: 0, agg: null, ts: 0, offset: 2 },
      { key: 'a', start: 20, end: 20, agg: null, ts: 20, offset: 2 },
      { key: 'a', start: 0, end: 20, agg: [1, 2, 3], ts: 20, offset: 2 },
    ]);
    // the merged session replaced both: one row, keyed by its start
    expect(ctx.windowStore('sess').fetch('a', -1000, 1000)).toEqual([
      { windowStartMs: 0, value: { endMs: 20, aggregate: [1, 2, 3] } },
    ]);
  });

  it('three sessions become one through two bridging records; the final result is emitted once', () => {
    const p = listSessions(10, 100);
    const input = recs([
      ['a', 1, 0],
      ['a', 2, 20],
      ['a', 3, 40],
      ['a', 4, 10],
      ['a', 5, 30],
      ['b', 6, 150], // stream time 150: close time 40, not past the end
      ['b', 7, 151], // close time 41 > end 40
    ]);
    expect(out(runBatches(p, ctx, input, 1))).toEqual([
      { key: 'a', start: 0, end: 40, agg: [1, 2, 4, 3, 5], ts: 40, offset: 6 },
    ]);
  });

  it('out of order within grace joins its session; a session closes only once stream time passes end + gap + grace', () => {
    const p = listSessions(10, 5);
    // a@100; b@115 = end + gap + grace: still open, so a@110 joins it
    expect(
      out(
        runBatches(
          p,
          ctx,
          recs([
            ['a', 1, 100],
            ['b', 2, 115],
            ['a', 3, 110],
          ]),
          1,
        ),
      ),
    ).toEqual([]);
    // b@125: close time 110 <= end 110, still open; b@126: closed
    expect(out(runBatches(p, ctx, recs([['b', 4, 125]], 3), 1))).toEqual([]);
    expect(out(runBatches(p, ctx, recs([['b', 5, 126]], 4), 1))).toEqual([
      { key: 'a', start: 100, end: 110, agg: [1, 3], ts: 110, offset: 4 },
    ]);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('late records are counted and dead-lettered: past end + gap + grace, or merging with a closed session', () => {
    const p = listSessions(10, 5);
    const input = recs([
      ['a', 1, 100],
      ['b', 2, 116], // close time 101: a's [100, 100] closes and is emitted
      ['a', 3, 110], // would merge with the closed session (Kafka Streams accepts it: merged end 110 >= 101)
      ['a', 4, 90], // merged session [90, 100] ends before close time 101: late in Kafka Streams too
      ['a', 5, 101], // its own session [101, 101] is open, but it touches the closed one
      ['a', 6, 111], // 111 > 100 + gap: a new session
    ]);
    const o = out(runBatches(p, ctx, input, 1));
    expect(o).toEqual([{ key: 'a', start: 100, end: 100, agg: [1], ts: 100, offset: 1 }]);
    expect(ctx.late('sess')).toBe(3);
    expect(ctx.deadLetters.map((d) => [d.rec.origin.offset, d.reason.split(':')[0]])).toEqual([
      [2, 'late record'],
      [3, 'late record'],
      [4, 'late record'],
    ]);
    expect(ctx.deadLetters[0].reason).toContain('would merge with session [1970-01-01T00:00:00.100Z');
    expect(
      ctx
        .windowStore('sess')
        .fetch('a', 0, 1000)
        .map((s) => s.windowStartMs),
    ).toEqual([100, 111]);
  });

  it('update mode forwards a copy: an aggregator mutating in place does not change earlier updates', () => {
    const p = listSessions(10, 0, 'update');
    const o = out(
      runBatches(
        p,
        ctx,
        recs([
          ['a', 1, 0],
          ['a', 2, 5],
        ]),
        1000,
      ),
    );
    expect(o.map((x) => x.agg)).toEqual([[1], null, [1, 2]]);
  });

  it('final results of several sessions closed by one record come out by start, then key bytes', () => {
    const p = listSessions(5, 0);
    const input = recs([
      ['b', 1, 10],
      ['a', 2, 10],
      ['c', 3, 7],
      ['z', 4, 100],
    ]);
    expect(out(runBatches(p, ctx, input, 1000)).map((x) => [x.key, x.start, x.offset])).toEqual([
      ['c', 7, 3],
      ['a', 10, 3],
      ['b', 10, 3],
    ]);
  });

  it('retention: sessions no record can reach are removed (tombstones in the changelog) after they were emitted', () => {
    const p = listSessions(10, 0);
    const rows: [string, number, number][] = [];
    for (let i = 0; i < 200; i++) rows.push([`k${i % 5}`, i, i * 30]);
    const o = runBatches(p, ctx, recs(rows), 17);
    expect(o.length).toBe(199); // every session but the last, still open
    const live = [...ctx.windowStore('sess').entries()].length;
    expect(live).toBeLessThanOrEqual(5);
    const tombstones = ctx.changelogs.get('sess')!.filter((e) => e.value === null).length;
    expect(tombstones).toBeGreaterThanOrEqual(195);
  });

  it('records with a null key are dropped and counted, as in Kafka Streams', () => {
    const p = listSessions(10, 0);
    expect(runBatches(p, ctx, recs([[null as unknown as string, 1, 5]]), 1)).toEqual([]);
    expect(ctx.dropped('sess')).toBe(1);
  });
});

/** A naive session simulation: every session of every key kept in arrays; the documented rules, record by record. */
function reference(input: readonly Flowing<string, number>[], gapMs: number, graceMs: number) {
  const sessions = new Map<string, { start: number; end: number; values: number[] }[]>();
  const late: number[] = [];
  let now = Number.NEGATIVE_INFINITY;
  for (const r of input) {
    const t = r.timestamp;
    now = Math.max(now, t);
    const close = now - gapMs - graceMs;
    const list = sessions.get(r.key) ?? [];
    const found = list
      .filter((s) => s.start <= t + gapMs && s.end >= t - gapMs && s.end >= close - gapMs)
      .sort((a, b) => a.start - b.start);
    const start = Math.min(t, ...found.map((s) => s.start));
    const end = Math.max(t, ...found.map((s) => s.end));
    if (end < close || found.some((s) => s.end < close)) {
      late.push(r.origin.offset);
      continue;
    }
    const rest = list.filter((s) => !found.includes(s));
    rest.push({ start, end, values: [...found.flatMap((s) => s.values), r.value] });
    sessions.set(r.key, rest);
  }
  return { sessions, late };
}

function generate(seed: number, n: number): { input: Flowing<string, number>[]; gapMs: number; graceMs: number } {
  const g = seeded(seed);
  const gapMs = g.int(1, 15);
  const graceMs = g.int(0, 20);
  let base = 0;
  const rows: [string, number, number][] = [];
  for (let i = 0; i < n; i++) {
    base += g.int(0, 6);
    const t = g.next() < 0.2 ? base - g.int(0, 40) : base;
    rows.push([['a', 'b', 'c', 'd'][g.int(0, 3)], i, t]);
  }
  rows.push(['~flush', n, base + 1000]);
  return { input: recs(rows), gapMs, graceMs };
}

describe('session merging, property test against a naive reference (seeded)', () => {
  for (let seed = 1; seed <= 25; seed++)
    it(`seed ${seed}: final sessions, late records and batch-size independence`, () => {
      const { input, gapMs, graceMs } = generate(seed, 300);
      const ref = reference(input, gapMs, graceMs);
      const expected = [...ref.sessions.entries()]
        .filter(([k]) => k !== '~flush')
        .flatMap(([key, ss]) => ss.map((s) => ({ key, start: s.start, end: s.end, agg: s.values })))
        .sort((a, b) => a.start - b.start || a.key.localeCompare(b.key));
      const runs = [1, 7, 1000].map((batch) => {
        const ctx = new FakeContext({ window: ['sess'] });
        try {
          const o = out(runBatches(listSessions(gapMs, graceMs), ctx, input, batch));
          return { o, late: ctx.deadLetters.map((d) => d.rec.origin.offset) };
        } finally {
          ctx.close();
        }
      });
      const got = runs[0].o.map(({ key, start, end, agg }) => ({ key, start, end, agg }));
      expect([...got].sort((a, b) => a.start - b.start || String(a.key).localeCompare(String(b.key)))).toEqual(
        expected,
      );
      expect(runs[0].late).toEqual(ref.late);
      // independent checks: each accepted record is in exactly one session, which spans its records exactly
      const accepted = input.filter((r) => r.key !== '~flush' && !ref.late.includes(r.origin.offset));
      const seen = got.flatMap((s) => s.agg as number[]);
      expect([...seen].sort((a, b) => a - b)).toEqual(accepted.map((r) => r.value));
      for (const s of got) {
        const ts = (s.agg as number[]).map((v) => input[v].timestamp);
        expect([s.start, s.end]).toEqual([Math.min(...ts), Math.max(...ts)]);
      }
      // the same outputs, in the same order, whatever the batch size
      expect(runs[1]).toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
    });

  it('emit update ends in the same sessions as emit final (applying updates and tombstones per windowed key)', () => {
    for (let seed = 100; seed < 110; seed++) {
      const { input, gapMs, graceMs } = generate(seed, 200);
      const finals = (() => {
        const ctx = new FakeContext({ window: ['sess'] });
        try {
          return out(runBatches(listSessions(gapMs, graceMs, 'final'), ctx, input, 13));
        } finally {
          ctx.close();
        }
      })();
      const table = new Map<string, unknown>();
      const ctx = new FakeContext({ window: ['sess'] });
      try {
        for (const u of out(runBatches(listSessions(gapMs, graceMs, 'update'), ctx, input, 13))) {
          if (u.key === '~flush') continue;
          const id = `${u.key}@${u.start}-${u.end}`;
          if (u.agg === null) table.delete(id);
          else table.set(id, u.agg);
        }
      } finally {
        ctx.close();
      }
      expect(new Map(finals.map((f) => [`${f.key}@${f.start}-${f.end}`, f.agg]))).toEqual(table);
    }
  });
});
