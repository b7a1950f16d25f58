/**
 * Retention of window stores (Kafka Streams' window retention, `Materialized.withRetention`): windows leave the store
 * (tombstones in the changelog) once stream time passes their start + `retentionMs` (at least size + grace), after
 * they were emitted; so a 10× longer input leaves the store's row count about the same. Without `retentionMs` the
 * store keeps every window (eddy's default: closed windows stay queryable).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Flowing } from '../../src/processors/context.js';
import { hopping, tumbling, type WindowSpec, windowAggregateProcessor } from '../../src/processors/window.js';
import { fingerprintOf } from '../../src/replay/fingerprint.js';
import { topology } from '../../src/topology/builder.js';
import { FakeContext, rec } from './fake-context.js';

let ctx: FakeContext;
afterEach(() => ctx.close());

function sum(spec: WindowSpec, retentionMs?: number) {
  return windowAggregateProcessor<string, number, number>(
    'win',
    'win',
    spec,
    { initializer: () => 0, aggregator: (a, v) => a + v },
    'dead-letter',
    'final',
    retentionMs,
  );
}

/** Feeds `n` records over 10 keys, 5 ms apart, in batches of 50, committing each; returns rows and emitted count. */
function feed(spec: WindowSpec, n: number, retentionMs?: number): { rows: number; emitted: number } {
  ctx = new FakeContext({ window: ['win'] });
  const p = sum(spec, retentionMs);
  let emitted = 0;
  for (let i = 0; i < n; i += 50) {
    const batch: Flowing[] = [];
    for (let j = i; j < Math.min(n, i + 50); j++) batch.push(rec(`k${j % 10}`, 1, j * 5, j));
    emitted += (p.process(batch, ctx) as Flowing[]).length;
    ctx.commit();
  }
  const rows = ctx.windowStore('win').count();
  ctx.close();
  ctx = new FakeContext();
  return { rows, emitted };
}

describe('window store retention', () => {
  for (const spec of [tumbling({ sizeMs: 100, graceMs: 50 }), hopping({ sizeMs: 100, advanceMs: 25, graceMs: 20 })])
    it(`a 10× longer input leaves the row count the same (size ${spec.sizeMs}, advance ${spec.advanceMs})`, () => {
      const retention = spec.sizeMs + spec.graceMs;
      const short = feed(spec, 1_000, retention);
      const long = feed(spec, 10_000, retention);
      expect(long.emitted).toBeGreaterThan(9 * short.emitted); // it did emit ten times as many windows
      expect(short.rows).toBeGreaterThan(0);
      expect(long.rows).toBe(short.rows); // only the open windows: 10 keys × the windows open at stream time
      expect(long.rows).toBeLessThanOrEqual(10 * Math.ceil((spec.sizeMs + spec.graceMs) / spec.advanceMs + 1));
    });

  it('windows leave the store only after they were emitted, with a tombstone in the changelog', () => {
    ctx = new FakeContext({ window: ['win'] });
    const p = sum(tumbling({ sizeMs: 10, graceMs: 5 }), 15);
    p.process([rec('a', 1, 3, 0)], ctx);
    ctx.commit();
    const out = p.process([rec('b', 1, 15, 1)], ctx) as Flowing[]; // closes [0, 10): emitted, then removed
    expect(out.map((r) => r.key)).toEqual(['a']);
    expect(ctx.windowStore('win').get('a', 0)).toBeUndefined();
    ctx.commit();
    const log = ctx.changelogs.get('win')!;
    expect(log.map((e) => (e.value === null ? `tombstone@${e.timestampMs}` : 'put'))).toEqual([
      'put',
      'put', // b@[10, 20)
      'tombstone@15', // a@[0, 10), stamped with the record that expired it
    ]);
  });

  it('a longer retentionMs keeps closed windows longer, the default keeps them all; below size + grace it is refused', () => {
    const bounded = feed(tumbling({ sizeMs: 100 }), 1_000, 100).rows;
    const longer = feed(tumbling({ sizeMs: 100 }), 1_000, 1_000).rows;
    const all = feed(tumbling({ sizeMs: 100 }), 1_000).rows;
    expect(longer).toBeGreaterThan(bounded);
    expect(all).toBe(10 * 50); // 10 keys × 50 windows of 100 ms over 5,000 ms
    expect(all).toBeGreaterThan(longer);
    expect(() => sum(tumbling({ sizeMs: 100, graceMs: 10 }), 50)).toThrow(
      'window store win: retentionMs must be an integer >= window size + grace (110 ms), got 50',
    );
  });

  it('a retention other than the default enters the fingerprint', () => {
    const build = (retentionMs?: number) => {
      const t = topology({ name: 'ret', version: 1 });
      t.source<string, string>('in', { key: 'string', value: 'string' })
        .groupByKey({ key: 'string' })
        .windowedBy(tumbling({ sizeMs: 1_000 }))
        .count('per_second', retentionMs === undefined ? {} : { retentionMs });
      return fingerprintOf(t.build(), {}).hash;
    };
    expect(build(86_400_000)).not.toBe(build());
    expect(build()).toBe(build());
  });
});
