/**
 * A small seeded pseudo-random generator (mulberry32) for property tests (fast-check is not a dependency): the same
 * seed gives the same cases, so a failure names the seed that reproduces it.
 */
import type { Flowing, Processor } from '../../src/processors/context.js';
import type { FakeContext } from './fake-context.js';

export function seeded(seed: number): { next: () => number; int: (lo: number, hi: number) => number } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) };
}

/** Runs `records` through `p` in batches of `batchSize`, committing after each batch (as the runtime does). */
export function runBatches(p: Processor, ctx: FakeContext, records: readonly Flowing[], batchSize: number): Flowing[] {
  const out: Flowing[] = [];
  for (let i = 0; i < records.length; i += batchSize) {
    out.push(...(p.process(records.slice(i, i + batchSize), ctx) as Flowing[]));
    ctx.commit();
  }
  return out;
}
