import { afterEach, describe, expect, it } from 'vitest';
import type { Flowing } from '../../src/processors/context.js';
import {
  type JoinWindows,
  joinWindows,
  type StreamJoinKind,
  streamJoinProcessor,
} from '../../src/processors/stream-join.js';
import { FakeContext, rec } from './fake-context.js';

let ctx: FakeContext;
afterEach(() => ctx?.close());

/** A join's two side processors over one fake task; `left(...)`/`right(...)` process one batch and commit. */
function join(kind: StreamJoinKind, window: JoinWindows) {
  ctx = new FakeContext({ window: ['j-left-store', 'j-right-store', 'j-unmatched-store'] });
  const make = (side: 'left' | 'right') =>
    streamJoinProcessor({
      join: 'j',
      name: `j-${side}`,
      side,
      kind,
      window,
      leftStore: 'j-left-store',
      rightStore: 'j-right-store',
      unmatchedStore: kind === 'inner' ? undefined : 'j-unmatched-store',
      joiner: (l, r, k) => `${k}:${l}+${r}`,
      policy: 'dead-letter',
    });
  const sides = { left: make('left'), right: make('right') };
  let offset = 0;
  const run = (side: 'left' | 'right', rows: [string | null, string | null, number][], commit = true) => {
    const input = rows.map(([k, v, t]) => rec(k, v, t, offset++, side) as Flowing);
    const out = sides[side].process(input, ctx) as Flowing[];
    if (commit) ctx.commit();
    return out.map((o) => `${o.value}@${o.timestamp}`);
  };
  return {
    left: (...rows: [string | null, string | null, number][]) => run('left', rows),
    right: (...rows: [string | null, string | null, number][]) => run('right', rows),
    run,
  };
}

describe('joinWindows', () => {
  it('symmetric with of(), grace 0 by default; bounds must be non-negative integers', () => {
    expect(joinWindows.of(10)).toEqual({ beforeMs: 10, afterMs: 10, graceMs: 0 });
    expect(joinWindows.of(10, 5)).toEqual({ beforeMs: 10, afterMs: 10, graceMs: 5 });
    expect(joinWindows({ beforeMs: 0, afterMs: 3 })).toEqual({ beforeMs: 0, afterMs: 3, graceMs: 0 });
    expect(() => joinWindows({ beforeMs: -1, afterMs: 3 })).toThrow(
      'join window beforeMs must be a non-negative integer (ms), got -1',
    );
    expect(() => joinWindows.of(10, 1.5)).toThrow('join window graceMs must be a non-negative integer (ms), got 1.5');
  });
});

describe('stream-stream join processor', () => {
  it('a left record at t joins right records in [t - before, t + after], both ends inclusive', () => {
    const j = join('inner', joinWindows({ beforeMs: 2, afterMs: 5, graceMs: 100 }));
    expect(j.right(['k', 'r97', 97], ['k', 'r98', 98], ['k', 'r105', 105], ['k', 'r106', 106])).toEqual([]);
    // Results stamped max(left, right); in the other side's timestamp order.
    expect(j.left(['k', 'l100', 100])).toEqual(['k:l100+r98@100', 'k:l100+r105@105']);
  });

  it('a right record at t joins left records in [t - after, t + before]', () => {
    const j = join('inner', joinWindows({ beforeMs: 2, afterMs: 5, graceMs: 100 }));
    expect(j.left(['k', 'l100', 100])).toEqual([]);
    expect(j.right(['k', 'r97', 97], ['k', 'r98', 98], ['k', 'r105', 105], ['k', 'r106', 106])).toEqual([
      'k:l100+r98@100',
      'k:l100+r105@105',
    ]);
  });

  it('joins records with negative timestamps too (Kafka Streams clips its fetch bounds at 0)', () => {
    const j = join('inner', joinWindows.of(10));
    expect(j.left(['k', 'a', -15])).toEqual([]);
    expect(j.right(['k', 'r', -6])).toEqual(['k:a+r@-6']);
  });

  it('joins only equal keys, and every record at one timestamp (duplicates kept in arrival order)', () => {
    const j = join('inner', joinWindows.of(0, 10));
    expect(j.left(['k', 'a', 10], ['k', 'b', 10], ['x', 'c', 10])).toEqual([]);
    expect(j.right(['k', 'r', 10])).toEqual(['k:a+r@10', 'k:b+r@10']);
    expect(j.left(['k', 'a', 10])).toEqual(['k:a+r@10']); // a duplicate of a left record joins again
    expect(ctx.windowStore('j-left-store').get('k', 10)).toEqual(['a', 'b', 'a']);
  });

  it('left join: the unmatched left record is emitted with null only once stream time passes t + after + grace', () => {
    const j = join('left', joinWindows.of(10, 5));
    expect(j.left(['k', 'a', 0])).toEqual([]);
    expect(j.right(['x', 'r', 14])).toEqual([]);
    expect(j.right(['x', 'r', 15])).toEqual([]); // 0 + 10 + 5 = 15: not yet passed
    expect(j.left(['x', 'b', 16])).toEqual(['k:a+null@0', 'x:b+r@16', 'x:b+r@16']);
    // The emitted record left the unmatched store (a later record emits it no more); b matched, so never null.
    expect(j.left(['y', 'c', 40])).toEqual([]);
    expect([...ctx.windowStore('j-unmatched-store').entries()].map((e) => [e.key, e.windowStartMs])).toEqual([
      ['y', 40],
    ]);
  });

  it('an out-of-order partner within grace cancels the pending null result (KIP-633: no spurious null)', () => {
    const j = join('left', joinWindows.of(10, 5));
    expect(j.left(['k', 'a', 0])).toEqual([]);
    expect(j.right(['x', 'r', 14])).toEqual([]);
    expect(j.right(['k', 'late-but-in-grace', 9])).toEqual(['k:a+late-but-in-grace@9']);
    expect(j.right(['x', 'r', 100])).toEqual([]); // no [a, null]
  });

  it('right records of a left join are never emitted unmatched; of an outer join after t + before + grace', () => {
    const w = joinWindows({ beforeMs: 3, afterMs: 10, graceMs: 0 });
    const l = join('left', w);
    expect(l.right(['k', 'r', 0])).toEqual([]);
    expect(l.left(['x', 'a', 100])).toEqual([]);
    ctx.close();
    const o = join('outer', w);
    expect(o.right(['k', 'r', 0])).toEqual([]);
    expect(o.left(['x', 'a', 3])).toEqual([]); // 0 + before 3 + grace 0 = 3: not passed
    expect(o.left(['x', 'b', 4])).toEqual(['k:null+r@0']);
  });

  it('closed unmatched records come out by timestamp, then right before left, then key bytes', () => {
    const j = join('outer', joinWindows.of(1));
    expect(j.left(['b', 'lb', 5], ['a', 'la', 5], ['c', 'lc', 4])).toEqual([]);
    expect(j.right(['b2', 'rb', 5], ['a2', 'ra', 5])).toEqual([]);
    expect(j.left(['z', 'z', 100])).toEqual([
      'c:lc+null@4',
      'a2:null+ra@5',
      'b2:null+rb@5',
      'a:la+null@5',
      'b:lb+null@5',
    ]);
  });

  it('an out-of-order unmatched record whose window end is already behind stream time is emitted at once (as Kafka Streams)', () => {
    const j = join('left', joinWindows.of(10, 20));
    expect(j.left(['k', 'a', 100])).toEqual([]);
    expect(j.left(['k', 'old', 85])).toEqual(['k:old+null@85']); // 85 + 10 < 100, within grace: no partner seen
    expect(j.left(['k', 'recent', 95])).toEqual([]); // 95 + 10 >= 100: waits in the unmatched store
  });

  it('a record at or before stream time - (before + after + grace) is late: counted and dead-lettered, not joined', () => {
    const j = join('outer', joinWindows.of(10, 5));
    expect(j.right(['k', 'r', 100])).toEqual([]);
    // 76 is not late; with no partner and its window end (86) behind stream time, it is emitted at once.
    expect(j.left(['k', 'l75', 75], ['k', 'l76', 76])).toEqual(['k:l76+null@76']);
    expect(ctx.late('j-left')).toBe(1);
    expect(ctx.deadLetters.map((d) => [d.processor, d.rec.value, d.reason.split(':')[0]])).toEqual([
      ['j-left', 'l75', 'late record'],
    ]);
  });

  it('null key: emitted at once with null by an outer side (Kafka Streams 3.7+), dropped by an inner side; null values dropped', () => {
    const j = join('left', joinWindows.of(10));
    expect(j.left([null, 'a', 1], ['k', null, 2])).toEqual(['null:a+null@1']);
    expect(j.right([null, 'r', 3])).toEqual([]);
    expect(ctx.dropped('j-left')).toBe(1);
    expect(ctx.dropped('j-right')).toBe(1);
  });

  it('retention keeps the buffers bounded: records at or before stream time - (before + after + grace) are removed', () => {
    const j = join('outer', joinWindows.of(10, 5));
    for (let t = 0; t < 2_000; t += 10) {
      j.left(['k', `l${t}`, t]);
      j.right(['k', `r${t}`, t + 5]);
    }
    const starts = (s: string) => [...ctx.windowStore(s).entries()].map((e) => e.windowStartMs);
    expect(starts('j-left-store')).toEqual([1980, 1990]); // stream time 1995; kept: > 1995 - 25 = 1970
    expect(starts('j-right-store')).toEqual([1975, 1985, 1995]);
    // Removals are tombstones on the changelog, so a restored buffer is as bounded.
    expect(ctx.changelogs.get('j-left-store')!.filter((c) => c.value === null).length).toBe(198);
  });

  it('an aborted batch is processed again with the same results (stream time and the unmatched bound roll back)', () => {
    const j = join('outer', joinWindows.of(10));
    expect(j.left(['k', 'a', 0])).toEqual([]);
    expect(j.run('right', [['x', 'r', 50]], false)).toEqual(['k:a+null@0']);
    ctx.rollback();
    expect(j.run('right', [['x', 'r', 50]], true)).toEqual(['k:a+null@0']);
  });
});
