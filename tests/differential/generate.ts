/**
 * Seeded generators of the differential test's input streams: the same seed gives the same records, so a failure
 * reproduces (the test prints the seed). Streams are mostly ordered, with records out of order within grace, late
 * records, duplicate timestamps, records exactly at a window's end and at end + grace, null keys, and for tables
 * tombstones.
 */
import type { ScenarioRecord } from './kstreams-runner.js';

/** mulberry32: a small, fast, seeded pseudo-random generator (uniform in [0, 1)). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
const int = (r: () => number, n: number) => Math.floor(r() * n);
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[int(r, xs.length)];

/** Keys of unequal lengths, so that orders by raw key bytes under different serdes can differ. */
export const KEYS = ['k1', 'k2', 'k3', 'k10', 'k11', 'a'];
/** Table keys (global table, stream-table joins); `r9` is never in a table. */
export const REFS = ['r0', 'r1', 'r2', 'r3', 'r4', 'r9'];
/** A round start, so that windows of every size used here are aligned to it. */
export const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 3_600_000);

/** What share of records are of each kind (the rest are ordered). */
export interface Mix {
  /** Out of order, but by at most `graceMs`. */
  readonly outOfOrder: number;
  /** Older than stream time - size - grace: late for every window. */
  readonly late: number;
  /** The previous record's timestamp. */
  readonly duplicate: number;
  /** Exactly at the end of the current window, or at its end + grace. */
  readonly boundary: number;
  /** A null key. */
  readonly nullKey: number;
}

export const DEFAULT_MIX: Mix = { outOfOrder: 0.12, late: 0.04, duplicate: 0.06, boundary: 0.08, nullKey: 0.03 };

/**
 * `n` timestamps of one stream: stream time moves forward by up to `stepMs`, with the mix of disorder. `sizeMs` and
 * `graceMs` are the window's (for a join or session, its time difference or gap); window ends are multiples of
 * `advanceMs` (default sizeMs) plus sizeMs.
 */
export function timestamps(
  r: () => number,
  n: number,
  o: { stepMs: number; sizeMs: number; graceMs: number; advanceMs?: number; mix?: Mix },
): number[] {
  const mix = o.mix ?? DEFAULT_MIX;
  const adv = o.advanceMs ?? o.sizeMs;
  const out: number[] = [];
  let st = T0;
  for (let i = 0; i < n; i++) {
    const x = r();
    let ts: number;
    if (i > 0 && x < mix.duplicate) ts = out[i - 1];
    else if (x < mix.duplicate + mix.outOfOrder) ts = st - int(r, o.graceMs + 1);
    else if (x < mix.duplicate + mix.outOfOrder + mix.late) ts = st - o.sizeMs - o.graceMs - 1 - int(r, o.sizeMs);
    else if (x < mix.duplicate + mix.outOfOrder + mix.late + mix.boundary) {
      const end = st - ((((st - T0) % adv) + adv) % adv) + o.sizeMs;
      ts = r() < 0.5 ? end : end + o.graceMs;
    } else ts = st + int(r, o.stepMs + 1);
    st = Math.max(st, ts);
    out.push(ts);
  }
  return out;
}

/** A stream of `n` records on `topic` with values `{ i, v, ref, g }`; `i` numbers records across the scenario. */
export function streamRecords(
  r: () => number,
  topic: string,
  ts: readonly number[],
  o: { nullKey?: number; refs?: boolean; firstIndex?: number } = {},
): ScenarioRecord[] {
  return ts.map((t, j) => ({
    topic,
    key: r() < (o.nullKey ?? DEFAULT_MIX.nullKey) ? null : pick(r, KEYS),
    value: {
      i: (o.firstIndex ?? 0) + j,
      v: int(r, 100),
      ref: o.refs === true ? (r() < 0.03 ? null : pick(r, REFS)) : null,
      g: pick(r, ['g1', 'g2', 'g3']),
    },
    ts: t,
  }));
}

/** Table updates on `topic` (keys from `keys`): values `{ i, v, ref, g }` or, with probability `tombstones`, null. */
export function tableRecords(
  r: () => number,
  topic: string,
  ts: readonly number[],
  keys: readonly string[],
  o: { tombstones?: number; firstIndex?: number; value?: (j: number) => Record<string, unknown> } = {},
): ScenarioRecord[] {
  return ts.map((t, j) => ({
    topic,
    key: pick(r, keys),
    value:
      r() < (o.tombstones ?? 0.15)
        ? null
        : (o.value?.(j) ?? { i: (o.firstIndex ?? 0) + j, v: int(r, 100), ref: null, g: pick(r, ['g1', 'g2', 'g3']) }),
    ts: t,
  }));
}

/** Interleaves several record lists at random, keeping each list's order; renumbers `value.i` by position. */
export function interleave(r: () => number, ...lists: ScenarioRecord[][]): ScenarioRecord[] {
  const pos = lists.map(() => 0);
  const out: ScenarioRecord[] = [];
  for (;;) {
    const open = lists.map((l, k) => (pos[k] < l.length ? k : -1)).filter((k) => k >= 0);
    if (open.length === 0) break;
    const k = pick(r, open);
    const rec = lists[k][pos[k]++];
    const i = out.length;
    out.push(rec.value !== null && 'i' in rec.value ? { ...rec, value: { ...rec.value, i } } : rec);
  }
  return out;
}
