import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { derive, type Flowing, type Processor, type ProcessorContext } from '../../src/processors/context.js';
import {
  branchArmProcessor,
  filterProcessor,
  flatMapProcessor,
  mapProcessor,
  mapValuesProcessor,
  peekProcessor,
  sinkProcessor,
  validateProcessor,
} from '../../src/processors/stateless.js';
import { FakeContext, recs, view } from './fake-context.js';

let ctx: FakeContext;
beforeEach(() => {
  ctx = new FakeContext();
});
afterEach(() => {
  ctx.close();
});

/** Runs a synchronous processor. */
function run(p: Processor, records: readonly Flowing[], c: ProcessorContext = ctx): Flowing[] {
  const out = p.process(records, c);
  if (out instanceof Promise) throw new Error('expected a synchronous processor');
  return [...out];
}

const input = recs<string, number>([
  ['a', 1, 100],
  ['b', 2, 200],
  ['c', 3, 300],
  ['d', 4, 400],
]);

describe('derive', () => {
  it('keeps headers, raw record and origin; defaults the timestamp', () => {
    const from = input[1];
    const d = derive(from, 'k', { x: 1 });
    expect(d).toEqual({
      key: 'k',
      value: { x: 1 },
      timestamp: 200,
      headers: from.headers,
      raw: from.raw,
      origin: from.origin,
    });
    expect(d.raw).toBe(from.raw);
    expect(derive(from, 'k', 1, 5).timestamp).toBe(5);
  });
});

describe('map', () => {
  it('changes key, value and (optionally) timestamp, keeping provenance', () => {
    const p = mapProcessor<string, number, number, string>(
      'm',
      (r) =>
        r.value % 2 === 0
          ? { key: r.value * 10, value: r.key.toUpperCase(), timestamp: r.timestamp + 1 }
          : { key: r.value * 10, value: r.key },
      'dead-letter',
    );
    const out = run(p, input);
    expect(view(out)).toEqual([
      { key: 10, value: 'a', timestamp: 100, offset: 0 },
      { key: 20, value: 'B', timestamp: 201, offset: 1 },
      { key: 30, value: 'c', timestamp: 300, offset: 2 },
      { key: 40, value: 'D', timestamp: 401, offset: 3 },
    ]);
    expect(out[2].raw).toBe(input[2].raw);
    expect(out[2].headers).toBe(input[2].headers);
  });

  it('returns no records for no input', () => {
    expect(
      run(
        mapProcessor('m', (r) => r, 'fail'),
        [],
      ),
    ).toEqual([]);
  });
});

describe('mapValues', () => {
  it('keeps the key and timestamp, passes the record too', () => {
    const p = mapValuesProcessor<string, number, string>('mv', (v, r) => `${r.key}:${v * v}`, 'dead-letter');
    expect(view(run(p, input))).toEqual([
      { key: 'a', value: 'a:1', timestamp: 100, offset: 0 },
      { key: 'b', value: 'b:4', timestamp: 200, offset: 1 },
      { key: 'c', value: 'c:9', timestamp: 300, offset: 2 },
      { key: 'd', value: 'd:16', timestamp: 400, offset: 3 },
    ]);
  });
});

describe('filter', () => {
  it('keeps matching records (the same objects) and counts the others as dropped', () => {
    const p = filterProcessor<string, number>('even', (v) => v % 2 === 0, 'dead-letter');
    const out = run(p, input);
    expect(out).toEqual([input[1], input[3]]);
    expect(out[0]).toBe(input[1]);
    expect(ctx.dropped('even')).toBe(2);
    expect(ctx.deadLetters).toEqual([]);
  });
});

describe('flatMap', () => {
  it('emits zero or more records per record, in order, each with its input provenance', () => {
    const p = flatMapProcessor<string, number, string, number>(
      'fm',
      (r) =>
        Array.from({ length: r.value - 1 }, (_, i) => ({
          key: `${r.key}${i}`,
          value: i,
          timestamp: i === 1 ? 7 : undefined,
        })),
      'dead-letter',
    );
    expect(view(run(p, input))).toEqual([
      { key: 'b0', value: 0, timestamp: 200, offset: 1 },
      { key: 'c0', value: 0, timestamp: 300, offset: 2 },
      { key: 'c1', value: 1, timestamp: 7, offset: 2 },
      { key: 'd0', value: 0, timestamp: 400, offset: 3 },
      { key: 'd1', value: 1, timestamp: 7, offset: 3 },
      { key: 'd2', value: 2, timestamp: 400, offset: 3 },
    ]);
  });

  it('accepts any iterable, e.g. a generator', () => {
    const p = flatMapProcessor<string, number, string, number>(
      'gen',
      function* (r) {
        yield { key: r.key, value: r.value };
        yield { key: r.key, value: -r.value };
      },
      'fail',
    );
    expect(run(p, input.slice(0, 2)).map((r) => r.value)).toEqual([1, -1, 2, -2]);
  });

  it('a generator that throws midway dead-letters the record and emits none of its outputs', () => {
    const p = flatMapProcessor<string, number, string, number>(
      'gen',
      function* (r) {
        yield { key: r.key, value: r.value };
        if (r.key === 'b') throw new Error('half way');
      },
      'dead-letter',
    );
    expect(view(run(p, input.slice(0, 3))).map((r) => r.key)).toEqual(['a', 'c']);
    expect(ctx.deadLetters.map((d) => [d.rec.origin.offset, d.processor, d.reason])).toEqual([
      [1, 'gen', 'processing error: half way'],
    ]);
  });
});

describe('peek', () => {
  it('sees every record and passes them on unchanged', () => {
    const seen: string[] = [];
    const out = run(
      peekProcessor<string, number>('pk', (r) => void seen.push(`${r.key}@${r.timestamp}`), 'dead-letter'),
      input,
    );
    expect(seen).toEqual(['a@100', 'b@200', 'c@300', 'd@400']);
    expect(out).toEqual(input);
  });
});

describe('validate', () => {
  it('passes valid records and dead-letters invalid ones with the check reason', () => {
    const p = validateProcessor<string, number>('check', (v) => (v > 2 ? `value ${v} > 2` : undefined), 'dead-letter');
    expect(run(p, input)).toEqual(input.slice(0, 2));
    expect(ctx.deadLetters).toEqual([
      { rec: input[2], processor: 'check', reason: 'value 3 > 2' },
      { rec: input[3], processor: 'check', reason: 'value 4 > 2' },
    ]);
  });

  it('an empty string is a reason (the record is invalid)', () => {
    const p = validateProcessor<string, number>('check', () => '', 'dead-letter');
    expect(run(p, input.slice(0, 1))).toEqual([]);
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual(['']);
  });
});

describe('branch', () => {
  const preds = [(v: number) => v >= 3, (v: number) => v % 2 === 0];

  it('sends each record to the first matching arm only; the default arm gets the rest', () => {
    const arms = [0, 1, 2].map((i) => branchArmProcessor<string, number>(`split-${i}`, preds, i, 'dead-letter'));
    const outs = arms.map((a) => run(a, input).map((r) => r.key));
    // c (3) and d (4) match arm 0 first; d also matches arm 1 but goes to arm 0 only.
    expect(outs).toEqual([['c', 'd'], ['b'], ['a']]);
  });

  it('with no default arm, records matching no predicate go nowhere', () => {
    const outs = [0, 1].map((i) =>
      run(branchArmProcessor<string, number>(`split-${i}`, preds, i, 'dead-letter'), input).map((r) => r.key),
    );
    expect(outs.flat().sort()).toEqual(['b', 'c', 'd']);
  });

  it('predicates see the record as well as the value', () => {
    const byKey = [(_v: number, r: { key: string }) => r.key === 'b'];
    expect(run(branchArmProcessor<string, number>('k-0', byKey, 0, 'fail'), input).map((r) => r.key)).toEqual(['b']);
    expect(run(branchArmProcessor<string, number>('k-default', byKey, 1, 'fail'), input).map((r) => r.key)).toEqual([
      'a',
      'c',
      'd',
    ]);
  });

  // Regression: only arm 0 used the topology's error policy; the other arms always used `fail`, so under the
  // default `dead-letter` policy one throwing predicate failed the whole task (after arm 0 had dead-lettered it).
  it('a throwing predicate under dead-letter: dead-lettered once (by arm 0), no arm emits it, no arm throws', () => {
    const throwing = [
      (v: number) => {
        if (v === 2) throw new Error('bad value 2');
        return v >= 3;
      },
    ];
    const arms = [0, 1].map((i) => branchArmProcessor<string, number>(`split-${i}`, throwing, i, 'dead-letter'));
    const outs = arms.map((a) => run(a, input).map((r) => r.key));
    expect(outs).toEqual([['c', 'd'], ['a']]);
    expect(ctx.deadLetters.map((d) => [d.rec.origin.offset, d.processor, d.reason])).toEqual([
      [1, 'split-0', 'processing error: bad value 2'],
    ]);
  });

  it('a throwing predicate under fail: arm 0 rethrows', () => {
    const throwing = [
      (v: number) => {
        if (v === 2) throw new Error('bad value 2');
        return true;
      },
    ];
    expect(() => run(branchArmProcessor<string, number>('split-0', throwing, 0, 'fail'), input)).toThrow('bad value 2');
    expect(ctx.deadLetters).toEqual([]);
  });
});

describe('error policy', () => {
  /** Throws for keys b and d, otherwise returns `v`. */
  const boom = <T>(r: { key: string }, v: T): T => {
    if (r.key === 'b' || r.key === 'd') throw new Error(`cannot handle ${r.key}`);
    return v;
  };
  const cases: [string, (policy: 'dead-letter' | 'fail') => Processor, unknown[]][] = [
    [
      'map',
      (p) => mapProcessor<string, number, string, number>('p', (r) => boom(r, { key: r.key, value: r.value }), p),
      ['a', 'c'],
    ],
    ['mapValues', (p) => mapValuesProcessor<string, number, number>('p', (v, r) => boom(r, v), p), ['a', 'c']],
    ['filter', (p) => filterProcessor<string, number>('p', (_v, r) => boom(r, true), p), ['a', 'c']],
    [
      'flatMap',
      (p) => flatMapProcessor<string, number, string, number>('p', (r) => boom(r, [{ key: r.key, value: 0 }]), p),
      ['a', 'c'],
    ],
    ['peek', (p) => peekProcessor<string, number>('p', (r) => boom(r, undefined), p), ['a', 'c']],
    ['validate', (p) => validateProcessor<string, number>('p', (_v, r) => boom(r, undefined), p), ['a', 'c']],
  ];

  it.each(cases)(
    '%s under dead-letter: the record goes to the DLQ with "processing error: ..." and the rest flow on',
    (_n, make, keys) => {
      const out = run(make('dead-letter'), input);
      expect(out.map((r) => r.key)).toEqual(keys);
      expect(ctx.deadLetters).toEqual([
        { rec: input[1], processor: 'p', reason: 'processing error: cannot handle b' },
        { rec: input[3], processor: 'p', reason: 'processing error: cannot handle d' },
      ]);
      expect(ctx.dropped('p')).toBe(0);
    },
  );

  it.each(cases)('%s under fail: the error is rethrown and nothing is dead-lettered', (_n, make) => {
    expect(() => run(make('fail'), input)).toThrow('cannot handle b');
    expect(ctx.deadLetters).toEqual([]);
  });

  it('a thrown non-Error is stringified in the reason', () => {
    const p = mapValuesProcessor<string, number, number>(
      'p',
      () => {
        throw 'just a string';
      },
      'dead-letter',
    );
    run(p, input.slice(0, 1));
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual(['processing error: just a string']);
  });
});

describe('sink', () => {
  it('sends every record to its topic, in order, and forwards nothing', () => {
    expect(run(sinkProcessor('out.v1'), input)).toEqual([]);
    expect(ctx.sent).toEqual(input.map((rec) => ({ topic: 'out.v1', rec })));
  });
});
