import { NO_TIMESTAMP } from '../state/sqlite.js';
import type { Window, WindowStore } from '../state/stores.js';
import { maxTimestamp } from './aggregate.js';
import { type ErrorPolicy, FAILED, type Flowing, guarded, needsKey, type Processor, type Rec } from './context.js';

/**
 * Time windows over event time (Kafka Streams `TimeWindows`): tumbling when `advanceMs === sizeMs`, hopping when
 * `advanceMs < sizeMs`. A window covers [start, start + sizeMs); windows start at multiples of `advanceMs` since
 * the epoch. A window closes when stream time reaches `end + graceMs`; records for a closed window are late.
 */
export interface WindowSpec {
  readonly sizeMs: number;
  readonly advanceMs: number;
  readonly graceMs: number;
}

/** Tumbling windows of `sizeMs`, accepting records up to `graceMs` after a window's end. */
export function tumbling(opts: { sizeMs: number; graceMs?: number }): WindowSpec {
  return checkSpec({ sizeMs: opts.sizeMs, advanceMs: opts.sizeMs, graceMs: opts.graceMs ?? 0 });
}

/** Hopping windows of `sizeMs` starting every `advanceMs` (each record falls in sizeMs / advanceMs windows). */
export function hopping(opts: { sizeMs: number; advanceMs: number; graceMs?: number }): WindowSpec {
  return checkSpec({ sizeMs: opts.sizeMs, advanceMs: opts.advanceMs, graceMs: opts.graceMs ?? 0 });
}

function checkSpec(s: WindowSpec): WindowSpec {
  if (!Number.isInteger(s.sizeMs) || s.sizeMs <= 0)
    throw new RangeError(`window sizeMs must be a positive integer, got ${s.sizeMs}`);
  if (!Number.isInteger(s.advanceMs) || s.advanceMs <= 0 || s.advanceMs > s.sizeMs)
    throw new RangeError(`window advanceMs must be an integer in (0, sizeMs], got ${s.advanceMs}`);
  if (!Number.isInteger(s.graceMs) || s.graceMs < 0)
    throw new RangeError(`window graceMs must be a non-negative integer, got ${s.graceMs}`);
  return s;
}

/** The windows containing `timestampMs`, oldest first. */
export function windowsFor(spec: WindowSpec, timestampMs: number): Window[] {
  const out: Window[] = [];
  const lastStart = timestampMs - (((timestampMs % spec.advanceMs) + spec.advanceMs) % spec.advanceMs);
  for (let start = lastStart; start > timestampMs - spec.sizeMs; start -= spec.advanceMs)
    out.unshift({ startMs: start, endMs: start + spec.sizeMs });
  return out;
}

/** Windowed aggregation functions; the aggregator also gets the window. */
export interface WindowAggregateFns<K, V, A> {
  initializer: () => A;
  aggregator: (aggregate: A, value: V, r: Rec<K, V>, window: Window) => A;
}

/**
 * When a windowed aggregation emits (Kafka Streams' `EmitStrategy`, KIP-825): `final` once per window, when it
 * closes (`onWindowClose`); `update` every change (`onWindowUpdate`, Kafka Streams' default), coalesced per batch:
 * the latest aggregate of each window updated in the batch, in last-updated order, as Kafka Streams' record cache
 * coalesces updates between commits. Both end with the same value per window.
 */
export type EmitStrategy = 'final' | 'update';

/** Lowest stream time: nothing seen yet. */
export const NO_STREAM_TIME = Number.MIN_SAFE_INTEGER;

/**
 * Windowed aggregation into window store `store`, emitting each window's final aggregate once, when it closes
 * (Kafka Streams `EmitStrategy.onWindowClose`, KIP-825): the output is then independent of batch boundaries, so a
 * restarted run emits exactly what an uninterrupted one does. With `emit: 'update'`, every change instead, coalesced
 * per batch (see `EmitStrategy`): what comes out then depends on batch boundaries, its last value per window does not.
 * Retention (Kafka Streams' window store retention, `Materialized.withRetention`): by default (`retentionMs`
 * infinite) a window store keeps every window, so closed windows stay queryable (`eddy inspect`, `sql`: the store is a
 * checkpoint people read after the fact). With a finite `retentionMs` (minimum: size + grace) a window whose start +
 * `retentionMs` has been reached by stream time is removed from the store after what closes in the same step is
 * emitted, so the store stops growing with the input. Stream time is this processor's max event time,
 * advanced record by record; a record whose windows have all closed is late: counted and dead-lettered.
 * Forwards records keyed by the group key with value `{ window, aggregate }` (a `WindowedValue`), stamped with the
 * largest timestamp of the window's records (kept in the store beside the aggregate, as Kafka Streams'
 * `KStreamWindowAggregate` does). A record with a null key is dropped (counted, dead-lettered: `needsKey`) and does
 * not advance stream time.
 */
export function windowAggregateProcessor<K, V, A>(
  name: string,
  store: string,
  spec: WindowSpec,
  fns: WindowAggregateFns<K, V, A>,
  policy: ErrorPolicy,
  emit: EmitStrategy = 'final',
  retentionMs: number = Number.POSITIVE_INFINITY,
): Processor {
  const closeDelay = spec.sizeMs + spec.graceMs;
  if (retentionMs !== Number.POSITIVE_INFINITY && (!Number.isInteger(retentionMs) || retentionMs < closeDelay))
    throw new RangeError(
      `window store ${store}: retentionMs must be an integer >= window size + grace (${closeDelay} ms), got ${retentionMs}`,
    );
  return {
    process(records, ctx) {
      const ws = ctx.windowStore<K, A>(store);
      const before = ctx.streamTime(name);
      let now = before;
      // Records that advanced stream time, in order: a closed window's provenance is the record that closed it (the
      // first to push stream time to its end + grace), the same whatever the batch boundaries.
      const advancers: Flowing[] = [];
      // emit 'update': per window updated in this batch (by key identity and start), the record that last updated it
      const updated = new Map<string, { r: Flowing<K, V>; w: Window }>();
      for (const r of records as Flowing<K, V>[]) {
        if (!needsKey(ctx, name, r)) continue; // before stream time, as Kafka Streams' KStreamWindowAggregate
        if (r.timestamp > now) {
          now = r.timestamp;
          advancers.push(r);
        }
        const open = windowsFor(spec, r.timestamp).filter((w) => w.startMs + closeDelay > now);
        if (open.length === 0) {
          ctx.metrics.late(name);
          ctx.deadLetter(
            r,
            name,
            `late record: event time ${new Date(r.timestamp).toISOString()} is past window end + grace (stream time ${new Date(now).toISOString()})`,
          );
          continue;
        }
        const res = guarded(ctx, name, r, policy, () => {
          for (const w of open) {
            const old = ws.getWithTimestamp(r.key, w.startMs);
            const agg = fns.aggregator(old?.value ?? fns.initializer(), r.value, r, w);
            ws.put(r.key, w.startMs, agg, maxTimestamp(old?.timestampMs, r.timestamp));
            if (emit === 'update') {
              const id = `${ws.identity(r.key)}\u0000${w.startMs}`;
              updated.delete(id);
              updated.set(id, { r, w });
            }
          }
          return true;
        });
        if (res === FAILED) continue;
      }
      ctx.setStreamTime(name, now);
      const out = emit === 'update' ? updates(ws, updated) : closedWindows(ws, before, now, advancers);
      // Retention, after emission: windows whose start + retention is in (before, now] are removed (tombstones, so a
      // store restored from its changelog is identical), stamped with the record that expired them.
      if (retentionMs !== Number.POSITIVE_INFINITY && now > before && advancers.length > 0) {
        const from = before === NO_STREAM_TIME ? NO_STREAM_TIME : before - retentionMs + 1;
        for (const c of ws.startingIn(from, now - retentionMs + 1))
          ws.remove(c.key, c.windowStartMs, closerOf(advancers, c.windowStartMs + retentionMs).timestamp);
      }
      return out;
    },
  };

  function updates(ws: WindowStore<K, A>, updated: Map<string, { r: Flowing<K, V>; w: Window }>): Flowing[] {
    return [...updated.values()].map(({ r, w }) => {
      const cur = ws.getWithTimestamp(r.key, w.startMs)!;
      const value: WindowedValue<A> = { window: w, aggregate: cur.value };
      return { key: r.key, value, timestamp: cur.timestampMs, headers: r.headers, raw: r.raw, origin: r.origin };
    });
  }

  /** The windows that closed in this batch (start + closeDelay in (before, now]), as records to emit. */
  function closedWindows(ws: WindowStore<K, A>, before: number, now: number, advancers: Flowing[]): Flowing[] {
    if (now === before || advancers.length === 0) return [];
    const from = before === NO_STREAM_TIME ? NO_STREAM_TIME : before - closeDelay + 1;
    return ws.startingIn(from, now - closeDelay + 1).map((c) => {
      const by = closerOf(advancers, c.windowStartMs + closeDelay);
      return {
        key: c.key,
        value: {
          window: { startMs: c.windowStartMs, endMs: c.windowStartMs + spec.sizeMs },
          aggregate: c.value,
        } satisfies WindowedValue<A>,
        // the max timestamp of the window's records (Kafka Streams' timestamp propagation); a window from a store
        // file older than timestamps falls back to its end - 1
        timestamp: c.timestampMs === NO_TIMESTAMP ? c.windowStartMs + spec.sizeMs - 1 : c.timestampMs,
        headers: by.headers,
        raw: by.raw,
        origin: by.origin,
      };
    });
  }
}

/** The first of `advancers` (ascending timestamps) at or past `closeAtMs`; the last one if none is. */
function closerOf(advancers: readonly Flowing[], closeAtMs: number): Flowing {
  let lo = 0;
  let hi = advancers.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (advancers[mid].timestamp >= closeAtMs) hi = mid;
    else lo = mid + 1;
  }
  return advancers[lo];
}

/** What a windowed aggregation forwards: the window and its final aggregate. */
export interface WindowedValue<A> {
  readonly window: Window;
  readonly aggregate: A;
}
