import { afterEach, describe, expect, it } from 'vitest';
import type { Flowing, Processor } from '../../src/processors/context.js';
import { globalJoinProcessor } from '../../src/processors/join.js';
import { FakeContext, recs, view } from './fake-context.js';

interface Flight {
  origin: string;
  delay: number;
}
interface Airport {
  city: string;
}

const airports = new Map<string, Airport>([
  ['SFO', { city: 'San Francisco' }],
  ['BOS', { city: 'Boston' }],
]);
const flights = recs<string, Flight>([
  ['f1', { origin: 'SFO', delay: 5 }, 10],
  ['f2', { origin: 'XXX', delay: 6 }, 20],
  ['f3', { origin: 'BOS', delay: 7 }, 30],
]);

let ctx: FakeContext;
afterEach(() => ctx.close());

function run(p: Processor, records: readonly Flowing[]): Flowing[] {
  return [...(p.process(records, ctx) as Flowing[])];
}

function join(
  kind: 'inner' | 'left',
  onMissing: 'drop' | 'dead-letter',
  policy: 'dead-letter' | 'fail' = 'dead-letter',
) {
  return globalJoinProcessor<string, Flight, string, Airport, string>({
    name: 'enrich',
    table: 'airports',
    keyOf: (r) => r.value.origin,
    joiner: (f, a, r) => `${r.key}:${f.delay}:${a?.city ?? '?'}`,
    kind,
    onMissing,
    policy,
  });
}

describe('global table join', () => {
  it('inner, drop: joins matches, drops and counts misses', () => {
    ctx = new FakeContext({ globals: { airports } });
    expect(view(run(join('inner', 'drop'), flights))).toEqual([
      { key: 'f1', value: 'f1:5:San Francisco', timestamp: 10, offset: 0 },
      { key: 'f3', value: 'f3:7:Boston', timestamp: 30, offset: 2 },
    ]);
    expect(ctx.dropped('enrich')).toBe(1);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('inner, dead-letter: a miss goes to the DLQ with a reason naming the key and the table', () => {
    ctx = new FakeContext({ globals: { airports } });
    expect(run(join('inner', 'dead-letter'), flights).map((r) => r.key)).toEqual(['f1', 'f3']);
    expect(ctx.deadLetters).toEqual([
      { rec: flights[1], processor: 'enrich', reason: 'no key "XXX" in table airports' },
    ]);
    expect(ctx.dropped('enrich')).toBe(0);
  });

  it('left: the joiner gets undefined for a miss, nothing is dropped', () => {
    ctx = new FakeContext({ globals: { airports } });
    expect(run(join('left', 'drop'), flights).map((r) => r.value)).toEqual([
      'f1:5:San Francisco',
      'f2:6:?',
      'f3:7:Boston',
    ]);
    expect(ctx.dropped('enrich')).toBe(0);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('a throwing keyOf or joiner is a processing error under dead-letter, and rethrown under fail', () => {
    ctx = new FakeContext({ globals: { airports } });
    const p = (policy: 'dead-letter' | 'fail') =>
      globalJoinProcessor<string, Flight, string, Airport, number>({
        name: 'enrich',
        table: 'airports',
        keyOf: (r) => {
          if (r.key === 'f1') throw new Error('no origin');
          return r.value.origin;
        },
        joiner: (f, a) => {
          if (a?.city === 'Boston') throw new Error('not Boston');
          return f.delay;
        },
        kind: 'left',
        onMissing: 'drop',
        policy,
      });
    expect(view(run(p('dead-letter'), flights))).toEqual([{ key: 'f2', value: 6, timestamp: 20, offset: 1 }]);
    expect(ctx.deadLetters.map((d) => [d.rec.origin.offset, d.reason])).toEqual([
      [0, 'processing error: no origin'],
      [2, 'processing error: not Boston'],
    ]);
    expect(() => run(p('fail'), flights)).toThrow('no origin');
  });

  it('a table key that is not a string is named as JSON in the reason', () => {
    ctx = new FakeContext({ globals: { byId: new Map([[1, 'one']]) } });
    const p = globalJoinProcessor<string, number, number, string, string>({
      name: 'by-id',
      table: 'byId',
      keyOf: (r) => r.value,
      joiner: (_v, tv) => tv!, // an inner join never calls the joiner without a table value
      kind: 'inner',
      onMissing: 'dead-letter',
      policy: 'fail',
    });
    const out = run(
      p,
      recs<string, number>([
        ['a', 1, 0],
        ['b', 2, 0],
      ]),
    );
    expect(out.map((r) => r.value)).toEqual(['one']);
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual(['no key 2 in table byId']);
  });

  it('an unknown table fails with UNKNOWN_STORE', () => {
    ctx = new FakeContext();
    expect(() => run(join('inner', 'drop'), flights)).toThrow(expect.objectContaining({ code: 'UNKNOWN_STORE' }));
  });
});
