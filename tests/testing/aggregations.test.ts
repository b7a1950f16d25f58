/**
 * Grouping and aggregation operators through the TopologyTestDriver, with Avro keys and values as in production:
 * result timestamps (the max of the contributing records, Kafka Streams' timestamp propagation) and the order of
 * several windows closed by one record (window start, then the key's raw bytes: `k1, k10, k2`).
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
