import {
  type EmitStrategy,
  type SessionAggregateFns,
  sessionAggregateProcessor,
  sessionValueSchema,
} from '../processors/session.js';
import { slidingAggregateProcessor, slidingValueSchema } from '../processors/sliding.js';
import type { WindowAggregateFns } from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';
import type { TopologyBuilder } from './builder.js';
import type { SessionWindowsSpec, SlidingWindowsSpec } from './graph.js';
import { WindowedTable } from './table.js';

export type { EmitStrategy, SessionAggregateFns } from '../processors/session.js';
export type { SessionWindowsSpec, SlidingWindowsSpec } from './graph.js';

function checkMs(what: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${what} must be an integer >= ${min} (ms), got ${v}`);
  return v;
}

function checkEmit(emit: string | undefined): EmitStrategy {
  if (emit === undefined) return 'final';
  if (emit !== 'final' && emit !== 'update')
    throw new RangeError(`emit must be 'final' (once, when the window closes) or 'update' (every change), got ${emit}`);
  return emit;
}

/**
 * Session windows (Kafka Streams `SessionWindows.ofInactivityGapAndGrace(gap, grace)`; grace defaults to 0, as
 * `ofInactivityGapWithNoGrace`): a key's records within `gapMs` of each other form one session [first, last], both
 * ends inclusive; a record bridging sessions merges them. A session closes when stream time passes its end + gap +
 * grace. Use with `grouped.windowedBy(sessionWindows(...))`.
 * @throws RangeError when `gapMs` is not a positive integer or `graceMs` a non-negative one.
 */
export function sessionWindows(opts: { gapMs: number; graceMs?: number }): SessionWindowsSpec {
  return {
    type: 'session',
    gapMs: checkMs('session window gapMs', opts.gapMs, 1),
    graceMs: checkMs('session window graceMs', opts.graceMs ?? 0, 0),
  };
}

/**
 * Sliding windows (KIP-450, Kafka Streams `SlidingWindows.ofTimeDifferenceAndGrace(d, grace)`; grace defaults to 0):
 * windows [start, start + timeDifferenceMs], both ends inclusive, one ending at each record and one starting just
 * after it, so every distinct set of records within `timeDifferenceMs` of each other has its window. A window closes
 * when stream time passes its end + grace. Use with `grouped.windowedBy(slidingWindows(...))`.
 * @throws RangeError when `timeDifferenceMs` is not a positive integer or `graceMs` a non-negative one.
 */
export function slidingWindows(opts: { timeDifferenceMs: number; graceMs?: number }): SlidingWindowsSpec {
  return {
    type: 'sliding',
    timeDifferenceMs: checkMs('sliding window timeDifferenceMs', opts.timeDifferenceMs, 1),
    graceMs: checkMs('sliding window graceMs', opts.graceMs ?? 0, 0),
  };
}

/** Options shared by session and sliding aggregations: the store's key column name, and when results emit. */
interface AggOptions<E extends EmitStrategy> {
  /** Column name of the key in `eddy inspect`; default `key`. */
  keyName?: string;
  /** `'final'` (default): once per window, when it closes (KIP-825 `onWindowClose`); `'update'`: every change. */
  emit?: E;
}

/** Options of `reduce`: the reducer (a method, so that the stream's value type stays covariant) and its schema. */
interface ReduceOptions<V> {
  reducer(a: V, b: V): V;
  value: AvroSchema;
}

/**
 * A session-windowed stream (Kafka Streams `SessionWindowedKStream`). Its aggregations keep sessions in a window
 * store keyed by session start whose value is `{ endMs, aggregate }`, and return a `WindowedTable` whose `toStream`
 * mapper gets the session as the window ({ startMs, endMs }, end inclusive). Under `emit: 'update'` a merge retracts
 * the merged sessions: the mapper gets `aggregate` null for them (a tombstone for that windowed key).
 */
export class SessionWindowedStream<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
    private readonly spec: SessionWindowsSpec,
  ) {}

  /** Aggregates per key and session into the store `store` (changelogged); see `sessionAggregateProcessor`. */
  aggregate<A>(
    store: string,
    fns: SessionAggregateFns<K, V, A> & { value: AvroSchema } & AggOptions<'final'>,
  ): WindowedTable<K, A>;
  aggregate<A>(
    store: string,
    fns: SessionAggregateFns<K, V, A> & { value: AvroSchema } & AggOptions<'update'>,
  ): WindowedTable<K, A | null>;
  aggregate<A>(
    store: string,
    fns: SessionAggregateFns<K, V, A> & { value: AvroSchema } & AggOptions<EmitStrategy>,
  ): WindowedTable<K, A | null>;
  aggregate<A>(
    store: string,
    fns: SessionAggregateFns<K, V, A> & { value: AvroSchema } & AggOptions<EmitStrategy>,
  ): WindowedTable<K, A | null> {
    const emit = checkEmit(fns.emit);
    const { gapMs, graceMs } = this.spec;
    this.b.addStore(
      store,
      'window',
      { key: this.keySchema, value: sessionValueSchema(store, fns.value) },
      undefined,
      fns.keyName,
    );
    this.b.stores.set(store, { ...this.b.stores.get(store)!, windows: this.spec });
    const proc = sessionAggregateProcessor(store, store, this.spec, fns, emit, this.b.policy);
    const params = { windows: 'session', gapMs, graceMs, emit };
    const id = this.b.addNode(store, 'session-aggregate', [this.nodeId], proc, [store], undefined, params);
    return new WindowedTable<K, A | null>(this.b, id);
  }

  /** Counts records per key and session (Kafka Streams `count()`): a `long` per session. */
  count(store: string, opts?: AggOptions<'final'>): WindowedTable<K, number>;
  count(store: string, opts: AggOptions<'update'>): WindowedTable<K, number | null>;
  count(store: string, opts: AggOptions<EmitStrategy>): WindowedTable<K, number | null>;
  count(store: string, opts: AggOptions<EmitStrategy> = {}): WindowedTable<K, number | null> {
    return this.aggregate<number>(store, {
      initializer: () => 0,
      aggregator: (n) => n + 1,
      merger: (a, b) => a + b,
      value: 'long',
      keyName: opts.keyName,
      emit: opts.emit as 'final',
    });
  }

  /**
   * Combines the values of each session with `reducer` (Kafka Streams `reduce()`, which also merges sessions with
   * it): the first value of a session is its aggregate; the store's value schema is `value`, the stream's.
   */
  reduce(store: string, opts: ReduceOptions<V> & AggOptions<'final'>): WindowedTable<K, V>;
  reduce(store: string, opts: ReduceOptions<V> & AggOptions<'update'>): WindowedTable<K, V | null>;
  reduce(store: string, opts: ReduceOptions<V> & AggOptions<EmitStrategy>): WindowedTable<K, V | null>;
  reduce(store: string, opts: ReduceOptions<V> & AggOptions<EmitStrategy>): WindowedTable<K, V | null> {
    const { reducer } = opts;
    return this.aggregate<V | null>(store, {
      initializer: () => null,
      aggregator: (a, v) => (a === null ? v : reducer(a, v)),
      merger: (a, b) => (a === null ? b : b === null ? a : reducer(a, b)),
      value: opts.value,
      keyName: opts.keyName,
      emit: opts.emit as 'final',
    });
  }
}

/**
 * A sliding-windowed stream (Kafka Streams `TimeWindowedKStream` over `SlidingWindows`). Its aggregations keep
 * windows in a window store keyed by window start whose value is `{ timestampMs, aggregate }` (timestampMs: the
 * window's largest record timestamp, its results' timestamp), and return a `WindowedTable` whose `toStream` mapper
 * gets the window { startMs, endMs = startMs + timeDifferenceMs } (both ends inclusive).
 */
export class SlidingWindowedStream<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
    private readonly spec: SlidingWindowsSpec,
  ) {}

  /** Aggregates per key and sliding window into the store `store` (changelogged); see `slidingAggregateProcessor`. */
  aggregate<A>(
    store: string,
    fns: WindowAggregateFns<K, V, A> & { value: AvroSchema } & AggOptions<EmitStrategy>,
  ): WindowedTable<K, A> {
    const emit = checkEmit(fns.emit);
    const { timeDifferenceMs, graceMs } = this.spec;
    this.b.addStore(
      store,
      'window',
      { key: this.keySchema, value: slidingValueSchema(store, fns.value) },
      undefined,
      fns.keyName,
    );
    this.b.stores.set(store, { ...this.b.stores.get(store)!, windows: this.spec });
    const proc = slidingAggregateProcessor(store, store, this.spec, fns, emit, this.b.policy);
    const params = { windows: 'sliding', timeDifferenceMs, graceMs, emit };
    const id = this.b.addNode(store, 'sliding-aggregate', [this.nodeId], proc, [store], undefined, params);
    return new WindowedTable<K, A>(this.b, id);
  }

  /** Counts records per key and window: a `long` per window. */
  count(store: string, opts: AggOptions<EmitStrategy> = {}): WindowedTable<K, number> {
    return this.aggregate<number>(store, {
      initializer: () => 0,
      aggregator: (n) => n + 1,
      value: 'long',
      ...opts,
    });
  }

  /** Combines the values of each window with `reducer` (Kafka Streams `reduce()`); its schema is the stream's. */
  reduce(store: string, opts: ReduceOptions<V> & AggOptions<EmitStrategy>): WindowedTable<K, V> {
    const { reducer, ...rest } = opts;
    return this.aggregate<V>(store, {
      // the window's first record replaces the initial null (Kafka Streams' reduce: initializer null)
      initializer: () => null as V,
      aggregator: (a: V, v: V) => (a === null ? v : reducer(a, v)),
      ...rest,
    }) as WindowedTable<K, V>;
  }
}
