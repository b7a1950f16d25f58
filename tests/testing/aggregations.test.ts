/**
 * Grouping and aggregation operators through the TopologyTestDriver, with Avro keys and values as in production:
 * result timestamps (the max of the contributing records, Kafka Streams' timestamp propagation), the order of
 * several windows closed by one record (window start, then the key's raw bytes: `k1, k10, k2`), and records with a
 * null key (joined with a global table, dropped and dead-lettered by an aggregation).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TopologyTestDriver, topology, tumbling } from '../../src/index.js';
import type { Topology } from '../../src/topology/graph.js';

const CLICK = {
  type: 'record',
  name: 'Click',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'n', type: 'int' },
  ],
};
const TOTAL = { type: 'record', name: 'Total', fields: [{ name: 'n', type: 'long' }] };
const PER_WINDOW = {
  type: 'record',
  name: 'PerWindow',
  fields: [
    { name: 'window_start', type: 'long' },
    { name: 'n', type: 'long' },
  ],
};
interface Click {
  user: string;
  n: number;
}

const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});
async function driver(t: Topology): Promise<TopologyTestDriver> {
  const d = await TopologyTestDriver.create(t);
  drivers.push(d);
  return d;
}

/** `clicks` grouped by key: a running total (`totals` -> `totals.v1`) and a total per 10 s window (`per10s.v1`). */
function clicks(): Topology {
  const t = topology({ name: 'clicks-agg', version: 1 });
  const grouped = t.source<string, Click>('clicks', { key: 'string', value: CLICK }).groupByKey({ key: 'string' });
  grouped
    .aggregate<{ n: number }>('totals', {
      value: TOTAL,
      initializer: () => ({ n: 0 }),
      aggregator: (a, v) => ({ n: a.n + v.n }),
    })
    .toStream()
    .to(t.output<string, { n: number }>('totals', { key: 'string', value: TOTAL }));
  grouped
    .windowedBy(tumbling({ sizeMs: 10_000, graceMs: 0 }))
    .aggregate<{ n: number }>('per10s', {
      value: TOTAL,
      initializer: () => ({ n: 0 }),
      aggregator: (a, v) => ({ n: a.n + v.n }),
    })
    .toStream((key, w, agg) => ({ key, value: { window_start: w.startMs, n: agg.n } }))
    .to(t.output<string, { window_start: number; n: number }>('per10s', { key: 'string', value: PER_WINDOW }));
  return t.build();
}

describe('result timestamps', () => {
  it('a running aggregate keeps the max timestamp per key: a@T+5000 then a@T+1000 are both stamped T+5000', async () => {
    const d = await driver(clicks());
    const T = 1_000_000;
    await d.pipeInput('clicks', 'a', { user: 'a', n: 1 }, T + 5_000);
    await d.pipeInput('clicks', 'a', { user: 'a', n: 1 }, T + 1_000);
    await d.pipeInput('clicks', 'b', { user: 'b', n: 1 }, T + 1_000);
    expect(d.readOutput('totals.v1').map((o) => [o.key, o.value, o.timestamp])).toEqual([
      ['a', { n: 1 }, T + 5_000],
      ['a', { n: 2 }, T + 5_000],
      ['b', { n: 1 }, T + 1_000],
    ]);
  });

  it("a window's final result carries the max timestamp of its records, not its end - 1", async () => {
    const d = await driver(clicks());
    await d.pipeInput('clicks', 'a', { user: 'a', n: 1 }, 7_000);
    await d.pipeInput('clicks', 'a', { user: 'a', n: 1 }, 2_000);
    await d.pipeInput('clicks', 'z', { user: 'z', n: 1 }, 10_000); // closes [0, 10 s)
    expect(d.readOutput('per10s.v1').map((o) => [o.key, o.value, o.timestamp])).toEqual([
      ['a', { window_start: 0, n: 2 }, 7_000],
    ]);
  });
});

describe('emit order', () => {
  it('windows closed by one record come out by window start, then raw key bytes (k1, k10, k2), in any batch', async () => {
    for (const maxBatchRecords of [1, 100]) {
      const d = await TopologyTestDriver.create(clicks(), { maxBatchRecords });
      drivers.push(d);
      await d.pipeInputs(
        [
          ['k2', 1_000],
          ['k10', 2_000],
          ['k1', 3_000],
          ['k2', 12_000],
          ['k10', 11_000],
          ['zz', 40_000], // closes [0, 10 s) and [10 s, 20 s)
        ].map(([key, ts]) => ({
          topic: 'clicks',
          key: key as string,
          value: { user: key as string, n: 1 },
          timestampMs: ts as number,
        })),
      );
      expect(
        d.readOutput<string, { window_start: number }>('per10s.v1').map((o) => `${o.value.window_start}:${o.key}`),
      ).toEqual(['0:k1', '0:k10', '0:k2', '10000:k10', '10000:k2']);
    }
  });
});

/** `clicks` (key: user, may be null) joined with the global table `pages` by the clicked page, to `enriched.v1`. */
function enrich(): Topology {
  const t = topology({ name: 'clicks-enrich', version: 1 });
  const PAGE = { type: 'record', name: 'Page', fields: [{ name: 'title', type: 'string' }] };
  const ENRICHED = { type: 'record', name: 'Enriched', fields: [{ name: 'title', type: 'string' }] };
  const pages = t.globalTable<string, { title: string }>('pages', 'pages', { key: 'string', value: PAGE });
  const clicks = t.source<string, Click>('clicks', { key: 'string', value: CLICK });
  clicks
    .join(
      pages,
      (r) => r.value.user,
      (_c, p) => ({ title: p.title }),
      { name: 'enrich' },
    )
    .to(t.output<string, { title: string }>('enriched', { key: 'string', value: ENRICHED }));
  clicks.groupByKey({ key: 'string' }).aggregate<{ n: number }>('per_user', {
    value: TOTAL,
    initializer: () => ({ n: 0 }),
    aggregator: (a, v) => ({ n: a.n + v.n }),
  });
  return t.build();
}

describe('null keys', () => {
  it('a null-key record is joined with a global table (Kafka Streams does), and dead-lettered by an aggregation', async () => {
    const d = await driver(enrich());
    await d.pipeInput('pages', 'home', { title: 'Home' });
    await d.pipeInput('clicks', null, { user: 'home', n: 1 }, 1_000);
    await d.pipeInput('clicks', 'u1', { user: 'home', n: 2 }, 2_000);
    await d.pipeInput('clicks', null, { user: 'nowhere', n: 3 }, 3_000); // no match: dropped by the inner join
    expect(d.readOutput('enriched.v1').map((o) => [o.key, o.value, o.timestamp])).toEqual([
      [null, { title: 'Home' }, 1_000],
      ['u1', { title: 'Home' }, 2_000],
    ]);
    expect(d.readDeadLetters().map((x) => [x.processor, x.reason, x.source.offset])).toEqual([
      ['per_user', 'null key: per_user needs a key (a record with a null key cannot be grouped)', 0],
      ['per_user', 'null key: per_user needs a key (a record with a null key cannot be grouped)', 2],
    ]);
    expect(d.kvStore('per_user').get('u1')).toEqual({ n: 2 });
  });
});

/** count and reduce, grouped and windowed (both emit strategies), over `clicks` keyed by user. */
function countsAndReduces(): Topology {
  const t = topology({ name: 'clicks-count', version: 1 });
  const grouped = t.source<string, Click>('clicks', { key: 'string', value: CLICK }).groupByKey({ key: 'string' });
  const COUNT = { type: 'record', name: 'Count', fields: [{ name: 'n', type: 'long' }] };
  const counts = t.output<string, { n: number }>('counts', { key: 'string', value: COUNT });
  grouped
    .count('count')
    .toStream()
    .mapValues((n) => ({ n }))
    .to(counts);
  grouped
    .reduce('max', { value: CLICK, reducer: (a, b) => (b.n > a.n ? b : a) })
    .toStream()
    .to(t.output<string, Click>('max', { key: 'string', value: CLICK }));
  const windowed = grouped.windowedBy(tumbling({ sizeMs: 10_000, graceMs: 5_000 }));
  for (const emit of ['final', 'update'] as const) {
    windowed
      .count(`count_${emit}`, { emit })
      .toStream((key, w, n) => ({ key, value: { window_start: w.startMs, n } }))
      .to(
        t.output<string, { window_start: number; n: number }>(`wcount-${emit}`, { key: 'string', value: PER_WINDOW }),
      );
    windowed
      .reduce(`sum_${emit}`, { value: CLICK, reducer: (a, b) => ({ user: a.user, n: a.n + b.n }), emit })
      .toStream((key, w, c) => ({ key, value: { window_start: w.startMs, n: c.n } }))
      .to(t.output<string, { window_start: number; n: number }>(`wsum-${emit}`, { key: 'string', value: PER_WINDOW }));
  }
  return t.build();
}

describe('count and reduce', () => {
  it("count/reduce per key (Kafka Streams' KGroupedStream), and per window with both emit strategies agreeing", async () => {
    let seed = 3;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let t = 0;
    const input = Array.from({ length: 300 }, () => {
      t += Math.floor(rnd() * 400);
      const user = `u${Math.floor(rnd() * 5)}`;
      const ts = rnd() < 0.85 ? t : t - Math.floor(rnd() * 8_000);
      return { topic: 'clicks', key: user, value: { user, n: 1 + Math.floor(rnd() * 9) }, timestampMs: ts };
    });
    input.push({ topic: 'clicks', key: 'zz', value: { user: 'zz', n: 1 }, timestampMs: t + 100_000 });
    for (const maxBatchRecords of [1, 50]) {
      const d = await TopologyTestDriver.create(countsAndReduces(), { maxBatchRecords });
      drivers.push(d);
      await d.pipeInputs(input);
      // non-windowed: the last update per key is the count / the max click
      const lastBy = <V>(topic: string) => new Map(d.readOutput<string, V>(topic).map((o) => [o.key, o.value]));
      const late = new Set(d.readDeadLetters().map((x) => x.source.offset));
      const kept = input.filter((_, i) => !late.has(i));
      const counts = lastBy<{ n: number }>('counts.v1');
      const maxes = lastBy<Click>('max.v1');
      for (const u of ['u0', 'u1', 'u2', 'u3', 'u4']) {
        const mine = input.filter((r) => r.key === u); // late records are late for windows only
        expect(counts.get(u)).toEqual({ n: mine.length });
        expect(maxes.get(u)?.n).toBe(Math.max(...mine.map((r) => r.value.n)));
      }
      // windowed: 'update' ends with 'final''s value for every closed window, for count and reduce alike
      for (const what of ['wcount', 'wsum']) {
        const final = d.readOutput<string, { window_start: number; n: number }>(`${what}-final.v1`);
        const updates = d.readOutput<string, { window_start: number; n: number }>(`${what}-update.v1`);
        expect(final.length).toBeGreaterThan(10);
        expect(updates.length).toBeGreaterThan(final.length);
        const lastUpdate = new Map(updates.map((o) => [`${o.key}@${o.value.window_start}`, [o.value.n, o.timestamp]]));
        for (const o of final)
          expect(
            lastUpdate.get(`${o.key}@${o.value.window_start}`),
            `${what} ${o.key}@${o.value.window_start}`,
          ).toEqual([o.value.n, o.timestamp]);
        // and the final counts are right: records of the window that were not late
        if (what === 'wcount')
          for (const o of final)
            expect(o.value.n).toBe(
              kept.filter(
                (r) =>
                  r.key === o.key &&
                  r.timestampMs >= o.value.window_start &&
                  r.timestampMs < o.value.window_start + 10_000,
              ).length,
            );
      }
    }
  });
});
