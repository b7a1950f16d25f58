import type { AvroSchema } from '../schema/types.js';
import type { SlidingWindowsSpec } from '../topology/graph.js';
import { cloneValue } from './clone.js';
import { type ErrorPolicy, FAILED, type Flowing, guarded, type Processor } from './context.js';
import { type EmitStrategy, forward, iso, wrappedAggregateSchema } from './session.js';
import { NO_STREAM_TIME, type WindowAggregateFns } from './window.js';

/** What a sliding-window store holds per (key, window start): the largest record timestamp in it and its aggregate. */
export interface SlidingValue<A> {
  readonly timestampMs: number;
  readonly aggregate: A;
}

/** The Avro schema of a sliding store's value, `{ timestampMs: long, aggregate }` (`eddy_sliding_<store>`). */
export function slidingValueSchema(store: string, aggregate: AvroSchema): AvroSchema {
  return wrappedAggregateSchema('sliding', store, 'timestampMs', aggregate);
}

interface Found<A> {
  readonly windowStartMs: number;
  readonly value: SlidingValue<A>;
}

/**
 * Sliding-window aggregation (KIP-450) into the window store `store` (keyed by window start, value `SlidingValue`),
 * ported from Kafka Streams 3.9's `KStreamSlidingWindowAggregate` (its in-order path): windows [start, start + d],
 * both ends inclusive, d = `timeDifferenceMs`, exist only where records are. A record at t updates every window of
 * its key that contains it, creates its left window [t − d, t] (seeded with the aggregate of the records in it) if
 * absent, its right window [t + 1, t + 1 + d] if a later record falls in it, and the right window of the previous
 * record if absent and not empty. Records with t < d use Kafka Streams' [0, d] window. Close time is stream time −
 * grace; a window is closed when its end < close time and is never updated again; a record is late when t + d <
 * close time (counted, dead-lettered). Event times must be >= 0 (Kafka Streams' windows start at 0): a record with a
 * negative one is dead-lettered. Records with a null key or value are dropped (counted), as in Kafka Streams.
 *
 * Forwards `WindowedValue`s keyed by the group key, window {startMs, endMs = start + d}, timestamp = the largest
 * record timestamp in the window. `emit: 'final'`: each window once, when it closes, ordered by window start, then
 * key bytes (the order they close in), with the provenance of the record that closed it. `emit: 'update'`: each
 * window a record changed, ordered by window start. Retention: windows with start < close time − 3d are removed
 * (no record that is not late can read them any more), after emission.
 */
export function slidingAggregateProcessor<K, V, A>(
  name: string,
  store: string,
  spec: SlidingWindowsSpec,
  fns: WindowAggregateFns<K, V, A>,
  emit: EmitStrategy,
  policy: ErrorPolicy,
): Processor {
  const d = spec.timeDifferenceMs;
  return {
    process(records, ctx) {
      const ws = ctx.windowStore<K, SlidingValue<A>>(store);
      const before = ctx.streamTime(name);
      let now = before;
      const advancers: Flowing[] = [];
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) {
          ctx.metrics.dropped(name);
          continue;
        }
        const t = r.timestamp;
        if (t < 0) {
          ctx.deadLetter(r, name, `sliding windows need event times >= 0 ms since epoch, got ${t}`);
          continue;
        }
        if (t > now) {
          now = t;
          advancers.push(r);
        }
        const closeTime = now - spec.graceMs;
        if (t + d < closeTime) {
          ctx.metrics.late(name);
          ctx.deadLetter(
            r,
            name,
            `late record: event time ${iso(t)} is past its last window's end + grace (stream time ${iso(now)})`,
          );
          continue;
        }
        const found = ws.fetch(r.key, Math.max(0, t - 2 * d), t + 1);
        const writes = guarded(ctx, name, r, policy, () =>
          t < d ? early(t, found, closeTime, r, fns, d) : inOrder(t, found, closeTime, r, fns, d),
        );
        if (writes === FAILED) continue;
        const starts = [...writes.keys()].sort((a, b) => a - b);
        for (const start of starts) {
          const v = writes.get(start)!;
          ws.put(r.key, start, v);
          if (emit === 'update')
            out.push(forward(r, r.key, { startMs: start, endMs: start + d }, cloneValue(v.aggregate), v.timestampMs));
        }
      }
      ctx.setStreamTime(name, now);
      if (now === before || advancers.length === 0) return out;
      const closeNow = now - spec.graceMs;
      const closeBefore = before === NO_STREAM_TIME ? NO_STREAM_TIME : before - spec.graceMs;
      if (emit === 'final')
        // closed in this batch: end in [closeBefore, closeNow), i.e. start in [closeBefore - d, closeNow - d)
        for (const w of ws.startingIn(
          closeBefore === NO_STREAM_TIME ? NO_STREAM_TIME : closeBefore - d,
          closeNow - d,
        )) {
          const by = advancers[closerIndexOf(advancers, w.windowStartMs + d + spec.graceMs + 1)];
          const win = { startMs: w.windowStartMs, endMs: w.windowStartMs + d };
          out.push(forward(by, w.key, win, w.value.aggregate, w.value.timestampMs));
        }
      const expireBefore = closeBefore === NO_STREAM_TIME ? NO_STREAM_TIME : closeBefore - 3 * d;
      for (const w of ws.startingIn(expireBefore, closeNow - 3 * d)) ws.remove(w.key, w.windowStartMs);
      return out;
    },
  };
}

function closerIndexOf(advancers: readonly Flowing[], closeAtMs: number): number {
  let lo = 0;
  let hi = advancers.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (advancers[mid].timestamp >= closeAtMs) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

type Fns<K, V, A> = WindowAggregateFns<K, V, A>;

/**
 * Kafka Streams' `updateWindowAndForward`: folds the record into the window starting at `start` (base value `base`)
 * unless the window has closed; the write goes into `writes`.
 */
function update<K, V, A>(
  writes: Map<number, SlidingValue<A>>,
  start: number,
  base: SlidingValue<A>,
  closeTime: number,
  r: Flowing<K, V>,
  fns: Fns<K, V, A>,
  d: number,
): void {
  if (start + d < closeTime) return;
  const aggregate = fns.aggregator(base.aggregate, r.value, r, { startMs: start, endMs: start + d });
  writes.set(start, { timestampMs: Math.max(r.timestamp, base.timestampMs), aggregate });
}

/** `processInOrder`: windows of the key with start in [t − 2d, t + 1], ascending. Returns the writes by start. */
function inOrder<K, V, A>(
  t: number,
  found: readonly Found<A>[],
  closeTime: number,
  r: Flowing<K, V>,
  fns: Fns<K, V, A>,
  d: number,
): Map<number, SlidingValue<A>> {
  const writes = new Map<number, SlidingValue<A>>();
  const starts = new Set(found.map((w) => w.windowStartMs));
  let leftWinAgg: SlidingValue<A> | undefined;
  let rightWinAgg: SlidingValue<A> | undefined;
  let leftWinAlreadyCreated = false;
  let rightWinAlreadyCreated = false;
  let previousRecordTimestamp: number | undefined;
  for (const w of found) {
    const start = w.windowStartMs;
    const end = start + d;
    if (end < t) {
      leftWinAgg = w.value;
      previousRecordTimestamp = w.value.timestampMs;
    } else if (end === t) {
      leftWinAlreadyCreated = true;
      if (w.value.timestampMs < t) previousRecordTimestamp = w.value.timestampMs;
      update(writes, start, w.value, closeTime, r, fns, d);
    } else if (end > t && start <= t) {
      rightWinAgg = cloneValue(w.value);
      update(writes, start, w.value, closeTime, r, fns, d);
    } else if (start === t + 1) {
      rightWinAlreadyCreated = true;
    } else {
      throw new Error(`sliding windows: unexpected window starting at ${start} for a record at ${t}`);
    }
  }
  if (previousRecordTimestamp !== undefined) {
    const previousRightWinStart = previousRecordTimestamp + 1;
    if (!starts.has(previousRightWinStart) && previousRightWinStart + d >= t)
      update(writes, previousRightWinStart, { timestampMs: t, aggregate: fns.initializer() }, closeTime, r, fns, d);
  }
  if (!leftWinAlreadyCreated) {
    const seeded =
      previousRecordTimestamp !== undefined && t - d <= previousRecordTimestamp && leftWinAgg !== undefined
        ? cloneValue(leftWinAgg.aggregate)
        : fns.initializer();
    update(writes, t - d, { timestampMs: t, aggregate: seeded }, closeTime, r, fns, d);
  }
  if (!rightWinAlreadyCreated && rightWinAgg !== undefined && rightWinAgg.timestampMs > t)
    writes.set(t + 1, rightWinAgg);
  return writes;
}

/**
 * `processEarly`: a record with 0 <= t < d, whose left window would start before 0, goes into the [0, d] window
 * (Kafka Streams' workaround); `found` holds the windows with start in [0, t + 1].
 */
function early<K, V, A>(
  t: number,
  found: readonly Found<A>[],
  closeTime: number,
  r: Flowing<K, V>,
  fns: Fns<K, V, A>,
  d: number,
): Map<number, SlidingValue<A>> {
  const writes = new Map<number, SlidingValue<A>>();
  const starts = new Set(found.map((w) => w.windowStartMs));
  let combined: Found<A> | undefined;
  let rightWinAgg: SlidingValue<A> | undefined;
  let rightWinAlreadyCreated = false;
  let previousRecordTimestamp: number | undefined;
  for (const w of found) {
    const start = w.windowStartMs;
    if (start === 0) {
      combined = w;
      if (w.value.timestampMs < t) previousRecordTimestamp = w.value.timestampMs;
    } else if (start <= t) {
      rightWinAgg = cloneValue(w.value);
      update(writes, start, w.value, closeTime, r, fns, d);
    } else if (start === t + 1) {
      rightWinAlreadyCreated = true;
    } else {
      throw new Error(`sliding windows: unexpected window starting at ${start} for an early record at ${t}`);
    }
  }
  if (rightWinAgg === undefined && combined !== undefined && combined.value.timestampMs > t)
    rightWinAgg = cloneValue(combined.value);
  if (!rightWinAlreadyCreated && rightWinAgg !== undefined && rightWinAgg.timestampMs > t)
    writes.set(t + 1, rightWinAgg);
  if (previousRecordTimestamp !== undefined && !starts.has(previousRecordTimestamp + 1))
    update(writes, previousRecordTimestamp + 1, { timestampMs: t, aggregate: fns.initializer() }, closeTime, r, fns, d);
  update(writes, 0, combined?.value ?? { timestampMs: t, aggregate: fns.initializer() }, closeTime, r, fns, d);
  return writes;
}
