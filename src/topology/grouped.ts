import { type AggregateFns, aggregateProcessor } from '../processors/aggregate.js';
import type { Rec } from '../processors/context.js';
import {
  type EmitStrategy,
  type WindowAggregateFns,
  type WindowSpec,
  windowAggregateProcessor,
} from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';
import type { TopologyBuilder } from './builder.js';
import type { SessionWindowsSpec, SlidingWindowsSpec } from './graph.js';
import { SessionWindowedStream, SlidingWindowedStream } from './session.js';
import { Table, WindowedTable } from './table.js';

/** Options of `count`: the name of the key's column in `eddy inspect`/`sql` (default `key`). */
export interface CountOptions {
  readonly keyName?: string;
}

/** Options of windowed aggregations: when results emit, and how long windows stay in the store (ms). */
export interface WindowedOptions {
  readonly keyName?: string;
  /** `'final'` (default, once when the window closes) or `'update'` (every change, coalesced per batch). */
  readonly emit?: EmitStrategy;
  /**
   * How long a window stays in the store after its start, ms (minimum: window size + grace). Default: kept (closed
   * windows stay readable with `eddy inspect`/`sql`); set it to bound the store on a long input.
   */
  readonly retentionMs?: number;
}

/**
 * The functions of `reduce` (Kafka Streams `Reducer`): the first record of a key (or window) is its aggregate; each
 * later one is folded in with `reducer(aggregate, value)`. `value` is the store's value schema (the stream's).
 */
export interface ReduceOptions<K, V> {
  /** (A method, not a function property: keeps `Stream<K, V>` covariant in V, as the other operators do.) */
  reducer(aggregate: V, value: V, r: Rec<K, V>): V;
  readonly value: AvroSchema;
  readonly keyName?: string;
}

/** `reduce` as an aggregation whose initial aggregate is the first value. */
function reduceFns<K, V>(reducer: ReduceOptions<K, V>['reducer']): AggregateFns<K, V, V> {
  return {
    initializer: () => undefined as unknown as V, // no aggregate yet: the first value becomes it
    aggregator: (agg, v, r) => (agg === undefined ? v : reducer(agg, v, r)),
  };
}

/** `count` as an aggregation into a `long`. */
function countFns<K, V>(): AggregateFns<K, V, number> {
  return { initializer: () => 0, aggregator: (n) => n + 1 };
}

/** A stream grouped by key, ready to aggregate (Kafka Streams `KGroupedStream`). */
export class GroupedStream<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
  ) {}

  /**
   * Aggregates per key into the key-value store `store` (changelogged); returns the table of aggregates. Records with
   * a null key are dropped (counted, dead-lettered).
   */
  aggregate<A>(store: string, fns: AggregateFns<K, V, A> & { value: AvroSchema; keyName?: string }): Table<K, A> {
    this.b.addStore(store, 'kv', { key: this.keySchema, value: fns.value }, undefined, fns.keyName);
    const id = this.b.addNode(store, 'aggregate', [this.nodeId], aggregateProcessor(store, store, fns, this.b.policy), [
      store,
    ]);
    return new Table<K, A>(this.b, id);
  }

  /** Counts records per key (Kafka Streams `KGroupedStream#count`) into the key-value store `store` (value `long`). */
  count(store: string, opts: CountOptions = {}): Table<K, number> {
    return this.aggregate<number>(store, { ...countFns<K, V>(), value: 'long', keyName: opts.keyName });
  }

  /**
   * Combines the values of each key (Kafka Streams `KGroupedStream#reduce`): the first value of a key is its
   * aggregate, each later one is folded in by `reducer`. Store `store` holds values of the stream's schema `value`.
   */
  reduce(store: string, opts: ReduceOptions<K, V>): Table<K, V> {
    return this.aggregate<V>(store, { ...reduceFns<K, V>(opts.reducer), value: opts.value, keyName: opts.keyName });
  }

  /**
   * Windows the grouped stream by event time: tumbling or hopping (`tumbling`, `hopping`), session
   * (`sessionWindows`: a `SessionWindowedStream`) or sliding (`slidingWindows`: a `SlidingWindowedStream`) windows.
   */
  windowedBy(spec: SessionWindowsSpec): SessionWindowedStream<K, V>;
  windowedBy(spec: SlidingWindowsSpec): SlidingWindowedStream<K, V>;
  windowedBy(spec: WindowSpec): WindowedStream<K, V>;
  windowedBy(
    spec: WindowSpec | SessionWindowsSpec | SlidingWindowsSpec,
  ): WindowedStream<K, V> | SessionWindowedStream<K, V> | SlidingWindowedStream<K, V> {
    if ('type' in spec && spec.type === 'session')
      return new SessionWindowedStream<K, V>(this.b, this.nodeId, this.keySchema, spec);
    if ('type' in spec && spec.type === 'sliding')
      return new SlidingWindowedStream<K, V>(this.b, this.nodeId, this.keySchema, spec);
    return new WindowedStream<K, V>(this.b, this.nodeId, this.keySchema, spec as WindowSpec);
  }
}

/** A grouped, windowed stream (Kafka Streams `TimeWindowedKStream`). */
export class WindowedStream<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
    private readonly spec: WindowSpec,
  ) {}

  /**
   * Aggregates per key and window into the window store `store` (changelogged). With `emit: 'final'` (default,
   * Kafka Streams' `EmitStrategy.onWindowClose`) the returned table emits each window's final aggregate once, when
   * the window closes (end + grace <= stream time); with `emit: 'update'` (`onWindowUpdate`, Kafka Streams' default)
   * every change, coalesced per batch. By default the store keeps every window (closed ones stay readable with
   * `eddy inspect`, `sql`); with `retentionMs` (minimum: size + grace, Kafka Streams' window retention) windows are
   * removed once stream time passes their start + `retentionMs`, and the store stops growing. A non-default emit strategy or retention enters
   * the version fingerprint (node params). Throws `RangeError` for an unknown emit strategy or a retention below
   * size + grace.
   */
  aggregate<A>(
    store: string,
    fns: WindowAggregateFns<K, V, A> & { value: AvroSchema } & WindowedOptions,
  ): WindowedTable<K, A> {
    const emit = fns.emit ?? 'final';
    if (emit !== 'final' && emit !== 'update')
      throw new RangeError(`aggregate "${store}": emit must be 'final' or 'update', got ${JSON.stringify(emit)}`);
    this.b.addStore(store, 'window', { key: this.keySchema, value: fns.value }, this.spec, fns.keyName);
    const id = this.b.addNode(
      store,
      'window-aggregate',
      [this.nodeId],
      windowAggregateProcessor(store, store, this.spec, fns, this.b.policy, emit, fns.retentionMs),
      [store],
      undefined,
      // the defaults add nothing, so that the fingerprints of versions built before these options stay the same
      emit === 'final' && fns.retentionMs === undefined
        ? undefined
        : { ...(emit !== 'final' && { emit }), ...(fns.retentionMs !== undefined && { retentionMs: fns.retentionMs }) },
    );
    return new WindowedTable<K, A>(this.b, id);
  }

  /** Counts records per key and window (Kafka Streams `TimeWindowedKStream#count`) into window store `store`. */
  count(store: string, opts: CountOptions & WindowedOptions = {}): WindowedTable<K, number> {
    return this.aggregate<number>(store, { ...opts, ...countFns<K, V>(), value: 'long' });
  }

  /** Combines the values of each key and window (Kafka Streams `TimeWindowedKStream#reduce`); see `GroupedStream#reduce`. */
  reduce(store: string, opts: ReduceOptions<K, V> & WindowedOptions): WindowedTable<K, V> {
    const { reducer, ...rest } = opts;
    return this.aggregate<V>(store, { ...rest, ...reduceFns<K, V>(reducer) });
  }
}
