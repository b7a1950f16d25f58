/**
 * Type-level tests: key and value types flow through the DSL. The `expectTypeOf` lines and `@ts-expect-error`
 * lines are checked by compiling this file (last test), since `vitest run` itself does not type-check.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Rec } from '../../src/processors/context.js';
import type { KeyValue } from '../../src/processors/stateless.js';
import { tumbling } from '../../src/processors/window.js';
import type { KeyValueStore, Window } from '../../src/state/stores.js';
import {
  type GlobalTable,
  type GroupedStream,
  type OutputTopic,
  type Stream,
  type Table,
  topology,
  type WindowedStream,
  type WindowedTable,
} from '../../src/topology/builder.js';
import { typeErrors } from './typecheck.js';

interface Flight {
  origin: string;
  destination: string;
  delay: number;
}
interface Airport {
  city: string | null;
}
interface Enriched extends Flight {
  city: string | null;
}

const strings = { key: 'string', value: 'string' } as const;

describe('types flow through the DSL', () => {
  it('source, map, mapValues, filter, flatMap, peek', () => {
    const t = topology({ name: 't', version: 1 });
    const flights = t.source<string, Flight>('flights', strings);
    expectTypeOf(flights).toEqualTypeOf<Stream<string, Flight>>();

    const delays = flights.mapValues((f) => f.delay);
    expectTypeOf(delays).toEqualTypeOf<Stream<string, number>>();

    const byDelay = flights.map((r) => {
      expectTypeOf(r).toEqualTypeOf<Rec<string, Flight>>();
      return { key: r.value.delay, value: r.value.origin };
    });
    expectTypeOf(byDelay).toEqualTypeOf<Stream<number, string>>();

    expectTypeOf(delays.filter((v) => v > 15)).toEqualTypeOf<Stream<string, number>>();
    expectTypeOf(delays.peek(() => {})).toEqualTypeOf<Stream<string, number>>();
    expectTypeOf(delays.validate('v', (v) => (v > 0 ? undefined : 'negative'))).toEqualTypeOf<Stream<string, number>>();
    expectTypeOf(flights.flatMap((r) => [{ key: r.value.destination, value: true }])).toEqualTypeOf<
      Stream<string, boolean>
    >();

    // @ts-expect-error a number has no length: mapValues changed the value type
    delays.filter((v) => v.length > 0);
    // @ts-expect-error map must return a KeyValue
    flights.map((r) => r.value);
  });

  it('groupBy and groupByKey, aggregate, toStream', () => {
    const t = topology({ name: 't', version: 1 });
    const flights = t.source<string, Flight>('flights', strings);
    const byRoute = flights.groupBy('route', (r) => `${r.value.origin}-${r.value.destination}`, strings);
    expectTypeOf(byRoute).toEqualTypeOf<GroupedStream<string, Flight>>();
    const byDelay = flights.groupBy('by_delay', (r) => r.value.delay, strings);
    expectTypeOf(byDelay).toEqualTypeOf<GroupedStream<number, Flight>>();

    const counts = byRoute.aggregate('route_counts', {
      value: 'long',
      initializer: () => 0,
      aggregator: (agg, f, r) => {
        expectTypeOf(agg).toEqualTypeOf<number>();
        expectTypeOf(f).toEqualTypeOf<Flight>();
        expectTypeOf(r.key).toEqualTypeOf<string>();
        return agg + 1;
      },
    });
    expectTypeOf(counts).toEqualTypeOf<Table<string, number>>();
    expectTypeOf(counts.toStream()).toEqualTypeOf<Stream<string, number>>();

    const grouped = flights.mapValues((f) => f.delay).groupByKey({ key: 'string' });
    expectTypeOf(grouped).toEqualTypeOf<GroupedStream<string, number>>();
    // @ts-expect-error the aggregator must return the aggregate type
    grouped.aggregate('bad', { value: 'long', initializer: () => 0, aggregator: () => 'x' });
  });

  it('windowed aggregate and its toStream mapper', () => {
    const t = topology({ name: 't', version: 1 });
    const windowed = t
      .source<string, Flight>('flights', strings)
      .groupByKey({ key: 'string' })
      .windowedBy(tumbling({ sizeMs: 1000 }));
    expectTypeOf(windowed).toEqualTypeOf<WindowedStream<string, Flight>>();
    const table = windowed.aggregate('w', {
      value: 'long',
      initializer: () => ({ n: 0 }),
      aggregator: (agg, f, _r, w) => {
        expectTypeOf(w).toEqualTypeOf<Window>();
        agg.n += f.delay;
        return agg;
      },
    });
    expectTypeOf(table).toEqualTypeOf<WindowedTable<string, { n: number }>>();
    const out = table.toStream((airport, w, agg) => {
      expectTypeOf(airport).toEqualTypeOf<string>();
      expectTypeOf(w).toEqualTypeOf<Window>();
      return { key: w.startMs, value: `${airport}:${agg.n}` };
    });
    expectTypeOf(out).toEqualTypeOf<Stream<number, string>>();
  });

  it('count and reduce, grouped and windowed; emit strategies', () => {
    const t = topology({ name: 't', version: 1 });
    const grouped = t.source<string, Flight>('flights', strings).groupByKey({ key: 'string' });
    expectTypeOf(grouped.count('n')).toEqualTypeOf<Table<string, number>>();
    const longest = grouped.reduce('longest', {
      value: 'string',
      reducer: (a, b, r) => {
        expectTypeOf(a).toEqualTypeOf<Flight>();
        expectTypeOf(r).toEqualTypeOf<Rec<string, Flight>>();
        return a.delay >= b.delay ? a : b;
      },
    });
    expectTypeOf(longest).toEqualTypeOf<Table<string, Flight>>();
    // @ts-expect-error the reducer returns the stream's value type
    grouped.reduce('bad', { value: 'string', reducer: () => 1 });
    const windowed = grouped.windowedBy(tumbling({ sizeMs: 1000 }));
    expectTypeOf(windowed.count('wn', { emit: 'update' })).toEqualTypeOf<WindowedTable<string, number>>();
    expectTypeOf(windowed.reduce('wl', { value: 'string', reducer: (a) => a, emit: 'final' })).toEqualTypeOf<
      WindowedTable<string, Flight>
    >();
    windowed.aggregate('wa', { value: 'long', initializer: () => 0, aggregator: (n) => n + 1, emit: 'update' });
    // @ts-expect-error emit is 'final' or 'update' (and refused at run time too)
    expect(() => windowed.count('bad-emit', { emit: 'eager' })).toThrow(
      `aggregate "bad-emit": emit must be 'final' or 'update', got "eager"`,
    );
  });

  it('merge, selectKey, repartition', () => {
    const t = topology({ name: 't', version: 1 });
    const a = t.source<string, Flight>('a', strings);
    const b = t.source<string, Flight>('b', strings);
    expectTypeOf(a.merge(b)).toEqualTypeOf<Stream<string, Flight>>();
    // @ts-expect-error merge needs the same key and value types
    a.merge(t.source<number, Flight>('c', strings));
    const byDelay = a.selectKey((r) => {
      expectTypeOf(r).toEqualTypeOf<Rec<string, Flight>>();
      return r.value.delay;
    });
    expectTypeOf(byDelay).toEqualTypeOf<Stream<number, Flight>>();
    expectTypeOf(byDelay.groupByKey({ key: 'long', value: 'string', repartition: 'by-delay' })).toEqualTypeOf<
      GroupedStream<number, Flight>
    >();
    expectTypeOf(byDelay.repartition({ name: 'r', partitions: 4, key: 'long', value: 'string' })).toEqualTypeOf<
      Stream<number, Flight>
    >();
  });

  it('joins, branch, agent, to', () => {
    const t = topology({ name: 't', version: 1 });
    const flights = t.source<string, Flight>('flights', strings);
    const airports = t.globalTable<string, Airport>('airports', 'airports', strings);
    expectTypeOf(airports).toEqualTypeOf<GlobalTable<string, Airport>>();

    const inner = flights.join(
      airports,
      (r) => r.value.origin,
      (f, a): Enriched => {
        expectTypeOf(a).toEqualTypeOf<Airport>();
        return { ...f, city: a.city };
      },
    );
    expectTypeOf(inner).toEqualTypeOf<Stream<string, Enriched>>();
    const left = flights.leftJoin(
      airports,
      (r) => r.value.origin,
      (f, a) => {
        expectTypeOf(a).toEqualTypeOf<Airport | undefined>();
        return a?.city ?? f.origin;
      },
    );
    expectTypeOf(left).toEqualTypeOf<Stream<string, string>>();
    const delayOf = (r: Rec<string, Flight>) => r.value.delay;
    // @ts-expect-error the table key is a string, keyOf returns a number
    flights.join(airports, delayOf, (f) => f);

    const arms = flights.branch('split', { late: (f) => f.delay > 15, early: (f) => f.delay < 0 }, { default: true });
    expectTypeOf(arms.late).toEqualTypeOf<Stream<string, Flight>>();
    expectTypeOf(arms.default).toEqualTypeOf<Stream<string, Flight> | undefined>();

    const agent = t.agent(
      'count',
      flights,
      async function* (stream, ctx) {
        const seen = ctx.table<string, number>('seen');
        expectTypeOf(seen).toEqualTypeOf<KeyValueStore<string, number>>();
        for await (const r of stream) {
          expectTypeOf(r.value).toEqualTypeOf<Flight>();
          yield { key: r.value.delay, value: r.key } satisfies KeyValue<number, string>;
        }
      },
      { stores: { seen: { key: 'string', value: 'long' } } },
    );
    expectTypeOf(agent).toEqualTypeOf<Stream<number, string>>();

    const out = t.output<string, number>('delays', { key: 'string', value: 'long' });
    expectTypeOf(out).toEqualTypeOf<OutputTopic<string, number>>();
    flights.mapValues((f) => f.delay).to(out);
    // @ts-expect-error the output topic holds numbers, the stream carries flights
    flights.to(out);
  });

  it('the type-level tests of this directory type-check (unused @ts-expect-error lines fail too)', () => {
    const here = 'tests/topology';
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const files = ['tests/state', 'tests/processors', here].flatMap((d) =>
      readdirSync(join(root, d))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `${d}/${f}`),
    );
    expect(files).toContain(`${here}/types.test.ts`);
    expect(typeErrors(files)).toEqual([]);
  });
});
