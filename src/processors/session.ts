import type { AvroSchema } from '../schema/types.js';
import type { SessionWindowsSpec } from '../topology/graph.js';
import { cloneValue } from './clone.js';
import { type ErrorPolicy, FAILED, type Flowing, guarded, type Processor, type Rec } from './context.js';
import { NO_STREAM_TIME, type WindowedValue } from './window.js';

/** When a windowed aggregation forwards results (KIP-825 `EmitStrategy`): on window close, or on every update. */
export type EmitStrategy = 'final' | 'update';

/**
 * Session aggregation functions (Kafka Streams `Initializer`, `Aggregator`, `Merger`): `merger` combines the
 * aggregates of two sessions that a record bridges.
 */
export interface SessionAggregateFns<K, V, A> {
  initializer: () => A;
  aggregator: (aggregate: A, value: V, r: Rec<K, V>) => A;
  merger: (aggregate1: A, aggregate2: A, key: K) => A;
}

/** What a session store holds per (key, session start): the session's end (inclusive, ms) and its aggregate. */
export interface SessionValue<A> {
  readonly endMs: number;
  readonly aggregate: A;
}

/**
 * The Avro schema of a value eddy keeps around the user's aggregate in a window store: `{ <field>: long, aggregate:
 * <the user's schema> }`, named `eddy_<kind>_<store>` (non-name characters as `_`) so that the name is stable across
 * builds. Session stores keep the session's end (`endMs`), sliding stores the window's largest timestamp.
 */
export function wrappedAggregateSchema(kind: string, store: string, field: string, aggregate: AvroSchema): AvroSchema {
  return {
    type: 'record',
    name: `eddy_${kind}_${store.replace(/[^A-Za-z0-9_]/g, '_')}`,
    fields: [
      { name: field, type: 'long' },
      { name: 'aggregate', type: aggregate },
    ],
  } as AvroSchema;
}

/** The Avro schema of a session store's value, `{ endMs: long, aggregate }` (`eddy_session_<store>`). */
export function sessionValueSchema(store: string, aggregate: AvroSchema): AvroSchema {
  return wrappedAggregateSchema('session', store, 'endMs', aggregate);
}

/** An instant as ISO-8601 text, for messages. */
export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Session-window aggregation into the window store `store` (keyed by session start, value `SessionValue`), with
 * Kafka Streams 3.9's semantics (`KStreamSessionWindowAggregate`): a record at t joins every session of its key
 * whose [start − gap, end + gap] contains t (both ends inclusive); they merge (`merger`, oldest first, into a fresh
 * `initializer()`), then `aggregator` folds the record in, and the merged session [min start, max end] replaces them.
 * Stream time is this processor's max event time; close time is stream time − gap − grace; a session is closed when
 * its end < close time (stream time > end + gap + grace). A record whose merged session would end before close time is
 * late: counted and dead-lettered (`late record: ...`). eddy also treats as late a record that would merge with a
 * session already closed (Kafka Streams merges it and, under `onWindowClose`, emits that session a second time):
 * a final result stays final. Closed sessions are kept until end < stream time − 2 × gap − grace (so that such records
 * are recognised), then removed (tombstones), after they were emitted.
 *
 * Forwards `WindowedValue`s keyed by the group key, window = the session {startMs, endMs} (end inclusive), timestamp =
 * the session's end. `emit: 'final'`: each session once, when it closes, ordered by the record that closed it, then
 * session start, then key bytes, with that record's provenance. `emit: 'update'`: every change as it happens, a merge
 * first retracting each merged session (aggregate null: a tombstone for its windowed key), as Kafka Streams does.
 * Records with a null key are dropped (counted), as in Kafka Streams.
 */
export function sessionAggregateProcessor<K, V, A>(
  name: string,
  store: string,
  spec: SessionWindowsSpec,
  fns: SessionAggregateFns<K, V, A>,
  emit: EmitStrategy,
  policy: ErrorPolicy,
): Processor {
  const { gapMs, graceMs } = spec;
  return {
    process(records, ctx) {
      const ws = ctx.windowStore<K, SessionValue<A>>(store);
      const before = ctx.streamTime(name);
      let now = before;
      const advancers: Flowing[] = [];
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        if (r.key === null || r.key === undefined) {
          ctx.metrics.dropped(name);
          continue;
        }
        if (r.timestamp > now) {
          now = r.timestamp;
          advancers.push(r);
        }
        const t = r.timestamp;
        const closeTime = now - gapMs - graceMs;
        // Sessions that may contain t: start <= t + gap and end >= t - gap; those ending before the horizon are
        // forgotten (logically at once, physically at the end of the batch: the same whatever the batch size).
        const horizon = closeTime - gapMs;
        const found = ws
          .fetch(r.key, Number.MIN_SAFE_INTEGER, t + gapMs)
          .filter((s) => s.value.endMs >= t - gapMs && s.value.endMs >= horizon);
        let startMs = t;
        let endMs = t;
        for (const s of found) {
          startMs = Math.min(startMs, s.windowStartMs);
          endMs = Math.max(endMs, s.value.endMs);
        }
        if (endMs < closeTime) {
          ctx.metrics.late(name);
          ctx.deadLetter(
            r,
            name,
            `late record: event time ${iso(t)} falls in session [${iso(startMs)}, ${iso(endMs)}], closed since stream time passed its end + gap + grace (stream time ${iso(now)})`,
          );
          continue;
        }
        const closed = found.find((s) => s.value.endMs < closeTime);
        if (closed !== undefined) {
          ctx.metrics.late(name);
          ctx.deadLetter(
            r,
            name,
            `late record: event time ${iso(t)} would merge with session [${iso(closed.windowStartMs)}, ${iso(closed.value.endMs)}], closed since stream time passed its end + gap + grace (stream time ${iso(now)})`,
          );
          continue;
        }
        const aggregate = guarded(ctx, name, r, policy, () => {
          let agg = fns.initializer();
          for (const s of found) agg = fns.merger(agg, s.value.aggregate, r.key);
          return fns.aggregator(agg, r.value, r);
        });
        if (aggregate === FAILED) continue;
        const merging = !(startMs === t && endMs === t);
        for (const s of found) {
          if (s.windowStartMs !== startMs) ws.remove(r.key, s.windowStartMs);
          if (emit === 'update' && merging)
            out.push(forward(r, r.key, { startMs: s.windowStartMs, endMs: s.value.endMs }, null, s.value.endMs));
        }
        ws.put(r.key, startMs, { endMs, aggregate });
        if (emit === 'update') out.push(forward(r, r.key, { startMs, endMs }, cloneValue(aggregate), endMs));
      }
      ctx.setStreamTime(name, now);
      if (now === before || advancers.length === 0) return out;
      const closeNow = now - gapMs - graceMs;
      const closeBefore = before === NO_STREAM_TIME ? NO_STREAM_TIME : before - gapMs - graceMs;
      // Every stored session that may have closed (end >= start): the store holds only live and recently closed ones.
      const stored = ws.startingIn(Number.MIN_SAFE_INTEGER, closeNow);
      if (emit === 'final') {
        const closing = stored
          .filter((s) => s.value.endMs >= closeBefore && s.value.endMs < closeNow)
          .map((s) => ({ s, by: closerIndex(advancers, s.value.endMs + gapMs + graceMs + 1) }));
        closing.sort((a, b) => a.by - b.by); // stable: start, then key bytes, within one closing record
        for (const { s, by } of closing) {
          const w = { startMs: s.windowStartMs, endMs: s.value.endMs };
          out.push(forward(advancers[by], s.key, w, s.value.aggregate, s.value.endMs));
        }
      }
      // Retention, after emission: sessions no record can reach any more.
      for (const s of stored) if (s.value.endMs < closeNow - gapMs) ws.remove(s.key, s.windowStartMs);
      return out;
    },
  };
}

/** A result of `by` (whose provenance it carries): the windowed aggregate of `key`. */
export function forward<K, A>(
  by: Flowing,
  key: K,
  window: { startMs: number; endMs: number },
  aggregate: A,
  timestamp: number,
): Flowing {
  return {
    key,
    value: { window, aggregate } satisfies WindowedValue<A>,
    timestamp,
    headers: by.headers,
    raw: by.raw,
    origin: by.origin,
  };
}

/** Index of the first of `advancers` (ascending timestamps) at or past `closeAtMs`; the last one if none is. */
export function closerIndex(advancers: readonly Flowing[], closeAtMs: number): number {
  let lo = 0;
  let hi = advancers.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (advancers[mid].timestamp >= closeAtMs) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
