/**
 * Windowed aggregation with `emit: 'update'` (Kafka Streams' `EmitStrategy.onWindowUpdate`): every change,
 * coalesced per batch, in last-updated order, stamped with the window's max timestamp; and for any input and batch
 * size, the last update of each window equals what `emit: 'final'` emits when the window closes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Flowing, Processor } from '../../src/processors/context.js';
import {
  type EmitStrategy,
  hopping,
  tumbling,
  type WindowedValue,
  type WindowSpec,
  windowAggregateProcessor,
} from '../../src/processors/window.js';
import { FakeContext, rec, recs } from './fake-context.js';

let ctx: FakeContext;
afterEach(() => ctx.close());

function sum(spec: WindowSpec, emit: EmitStrategy): Processor {
  return windowAggregateProcessor<string, number, number>(
    'win',
    'win',
    spec,
    { initializer: () => 0, aggregator: (a, v) => a + v },
    'dead-letter',
    emit,
  );
}

const show = (out: readonly Flowing[]) =>
  out.map((r) => {
    const v = r.value as WindowedValue<number>;
    return `${r.key}@${v.window.startMs}=${v.aggregate}/t${r.timestamp}/o${r.origin.offset}`;
  });

describe("emit: 'update'", () => {
  it('emits the latest aggregate of each window updated in the batch, in last-updated order, with its max timestamp', () => {
    ctx = new FakeContext({ window: ['win'] });
    const p = sum(tumbling({ sizeMs: 10, graceMs: 5 }), 'update');
    const out = p.process(
      recs<string, number>([
        ['a', 1, 3],
        ['b', 2, 4],
        ['a', 4, 1], // out of order: a@[0,10) keeps timestamp 3
        ['a', 8, 12],
      ]),
      ctx,
    ) as Flowing[];
    expect(show(out)).toEqual(['b@0=2/t4/o1', 'a@0=5/t3/o2', 'a@10=8/t12/o3']);
    ctx.commit();
    // the next batch: only what it changed; a late record changes nothing
    expect(show(p.process([rec('b', 1, 30, 4), rec('a', 100, 2, 5)], ctx) as Flowing[])).toEqual(['b@30=1/t30/o4']);
    expect(ctx.late('win')).toBe(1);
  });

  it("for any input and batch size, each window's last update equals its final result", () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const spec of [tumbling({ sizeMs: 100, graceMs: 20 }), hopping({ sizeMs: 100, advanceMs: 25, graceMs: 10 })]) {
      let t = 0;
      const input = Array.from({ length: 400 }, (_, i) => {
        t += Math.floor(rnd() * 10);
        const ts = rnd() < 0.8 ? t : t - Math.floor(rnd() * 60);
        return rec(`k${Math.floor(rnd() * 7)}`, 1 + Math.floor(rnd() * 9), ts, i);
      });
      input.push(rec('zz', 0, t + 10_000, input.length)); // closes every window of the input
      const finals = new Map<string, string>();
      ctx = new FakeContext({ window: ['win'] });
      const f = sum(spec, 'final');
      for (const r of f.process(input, ctx) as Flowing[]) {
        const v = r.value as WindowedValue<number>;
        finals.set(`${r.key}@${v.window.startMs}`, `${v.aggregate}/t${r.timestamp}`);
      }
      ctx.close();
      for (const batch of [1, 7, 1_000]) {
        ctx = new FakeContext({ window: ['win'] });
        const u = sum(spec, 'update');
        const last = new Map<string, string>();
        for (let i = 0; i < input.length; i += batch) {
          for (const r of u.process(input.slice(i, i + batch), ctx) as Flowing[]) {
            const v = r.value as WindowedValue<number>;
            last.set(`${r.key}@${v.window.startMs}`, `${v.aggregate}/t${r.timestamp}`);
          }
          ctx.commit();
        }
        for (const [w, v] of finals) expect(last.get(w), `${w} at batch size ${batch}`).toBe(v);
        expect(finals.size).toBeGreaterThan(20);
        ctx.close();
      }
      ctx = new FakeContext();
    }
  });
});
