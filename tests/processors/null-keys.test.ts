/**
 * Records with a null key, per operator, as Kafka Streams 3.9 treats them: a stream–global-table join joins them when
 * the mapped table key is found (a null mapped key is dropped, but for a null-key record in a left join, which is
 * joined with nothing: Kafka Streams 3.9.1's own TopologyTestDriver does so, tests/differential);
 * stateless operators pass them; aggregations and repartitions need a key: the record is counted as dropped and
 * dead-lettered (`null key: ...`), and a windowed aggregation's stream time does not move for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { aggregateProcessor } from '../../src/processors/aggregate.js';
import type { Flowing, Processor } from '../../src/processors/context.js';
import { globalJoinProcessor } from '../../src/processors/join.js';
import { filterProcessor, mapProcessor, repartitionSinkProcessor } from '../../src/processors/stateless.js';
import { NO_STREAM_TIME, tumbling, windowAggregateProcessor } from '../../src/processors/window.js';
import { FakeContext, rec, view } from './fake-context.js';

let ctx: FakeContext;
afterEach(() => ctx.close());

function run(p: Processor, records: readonly Flowing[]): Flowing[] {
  return [...(p.process(records, ctx) as Flowing[])];
}

interface Click {
  page: string | null;
  n: number;
}
const pages = new Map<string, { title: string }>([['/a', { title: 'A' }]]);

function join(kind: 'inner' | 'left') {
  return globalJoinProcessor<string | null, Click, string | null, { title: string }, string>({
    name: 'enrich',
    table: 'pages',
    keyOf: (r) => r.value.page,
    joiner: (c, p, r) => `${r.key}:${c.n}:${p?.title ?? '-'}`,
    kind,
    onMissing: 'drop',
    policy: 'dead-letter',
  });
}

describe('null keys', () => {
  it('global-table join: a null-key record whose mapped key is found is joined, keeping its null key', () => {
    ctx = new FakeContext({ globals: { pages } });
    const input = [
      rec<string | null, Click>(null, { page: '/a', n: 1 }, 10, 0),
      rec<string | null, Click>(null, { page: '/x', n: 2 }, 20, 1), // not in the table
      rec<string | null, Click>(null, { page: null, n: 3 }, 30, 2), // null mapped key
      rec<string | null, Click>('u1', { page: '/a', n: 4 }, 40, 3),
    ];
    expect(view(run(join('inner'), input)).map((r) => [r.key, r.value])).toEqual([
      [null, 'null:1:A'],
      ['u1', 'u1:4:A'],
    ]);
    expect(ctx.dropped('enrich')).toBe(2);
    expect(view(run(join('left'), input)).map((r) => [r.key, r.value])).toEqual([
      [null, 'null:1:A'],
      [null, 'null:2:-'],
      [null, 'null:3:-'], // a null-key record with a null mapped key: joined with nothing (Kafka Streams 3.9.1)
      ['u1', 'u1:4:A'],
    ]);
    expect(ctx.dropped('enrich')).toBe(2);
    // a keyed record whose mapped key is null is dropped by the left join too (Kafka Streams 3.9.1)
    expect(view(run(join('left'), [rec<string | null, Click>('u2', { page: null, n: 5 }, 50, 4)]))).toEqual([]);
    expect(ctx.dropped('enrich')).toBe(3);
    expect(ctx.deadLetters).toEqual([]);
  });

  it('map and filter pass null keys (map may give them one)', () => {
    ctx = new FakeContext();
    const input = [rec<string | null, number>(null, 1, 10, 0), rec<string | null, number>(null, 2, 20, 1)];
    expect(
      view(
        run(
          filterProcessor<string | null, number>('f', (v) => v > 1, 'dead-letter'),
          input,
        ),
      ),
    ).toEqual([{ key: null, value: 2, timestamp: 20, offset: 1 }]);
    const keyed = run(
      mapProcessor<string | null, number, string, number>(
        'm',
        (r) => ({ key: `k${r.value}`, value: r.value }),
        'dead-letter',
      ),
      input,
    );
    expect(keyed.map((r) => r.key)).toEqual(['k1', 'k2']);
  });

  it('an aggregation drops (counts) and dead-letters a null-key record, and aggregates the others', () => {
    ctx = new FakeContext({ kv: ['sums'] });
    const p = aggregateProcessor<string | null, number, number>(
      'sums',
      'sums',
      { initializer: () => 0, aggregator: (a, v) => a + v },
      'dead-letter',
    );
    const bad = rec<string | null, number>(null, 5, 10, 0);
    const out = run(p, [bad, rec<string | null, number>('a', 1, 20, 1)]);
    // the aggregate forwards table changes (src/processors/table.ts `Change`): the new aggregate, old value not asked for
    expect(view(out)).toEqual([{ key: 'a', value: { newValue: 1, oldValue: null }, timestamp: 20, offset: 1 }]);
    expect(ctx.dropped('sums')).toBe(1);
    expect(ctx.deadLetters).toEqual([
      {
        rec: bad,
        processor: 'sums',
        reason: 'null key: sums needs a key (a record with a null key cannot be grouped)',
      },
    ]);
    expect(ctx.kvStore('sums').pendingCount).toBe(1);
  });

  it('a windowed aggregation drops a null-key record before it can move stream time', () => {
    ctx = new FakeContext({ window: ['win'] });
    const p = windowAggregateProcessor<string | null, number, number>(
      'win',
      'win',
      tumbling({ sizeMs: 10 }),
      { initializer: () => 0, aggregator: (a, v) => a + v },
      'dead-letter',
    );
    expect(run(p, [rec<string | null, number>(null, 1, 1_000, 0)])).toEqual([]);
    expect(ctx.streamTime('win')).toBe(NO_STREAM_TIME);
    expect(ctx.dropped('win')).toBe(1);
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual([
      'null key: win needs a key (a record with a null key cannot be grouped)',
    ]);
    // a keyed record at 5 is not late: the null-key record at 1,000 did not advance stream time
    run(p, [rec<string | null, number>('a', 1, 5, 1)]);
    expect(ctx.late('win')).toBe(0);
    expect(ctx.windowStore('win').get('a', 0)).toBe(1);
  });

  it('a repartition sink drops (counts) and dead-letters a null-key record, sends the others', () => {
    ctx = new FakeContext();
    const p = repartitionSinkProcessor('by-page-sink', 'app.v1.by-page.repartition');
    expect(run(p, [rec<string | null, number>(null, 1, 10, 0), rec<string | null, number>('a', 2, 20, 1)])).toEqual([]);
    expect(ctx.sent.map((s) => [s.topic, s.rec.key])).toEqual([['app.v1.by-page.repartition', 'a']]);
    expect(ctx.dropped('by-page-sink')).toBe(1);
    expect(ctx.deadLetters.map((d) => d.processor)).toEqual(['by-page-sink']);
  });
});
