import { type AggregateFns, aggregateProcessor } from '../processors/aggregate.js';
import { type WindowAggregateFns, type WindowSpec, windowAggregateProcessor } from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';
import type { TopologyBuilder } from './builder.js';
import type { SessionWindowsSpec, SlidingWindowsSpec } from './graph.js';
import { SessionWindowedStream, SlidingWindowedStream } from './session.js';
import { Table, WindowedTable } from './table.js';

/** A stream grouped by key, ready to aggregate (Kafka Streams `KGroupedStream`). */
export class GroupedStream<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
  ) {}

  /** Aggregates per key into the key-value store `store` (changelogged); returns the table of aggregates. */
  aggregate<A>(store: string, fns: AggregateFns<K, V, A> & { value: AvroSchema; keyName?: string }): Table<K, A> {
    this.b.addStore(store, 'kv', { key: this.keySchema, value: fns.value }, undefined, fns.keyName);
    const id = this.b.addNode(store, 'aggregate', [this.nodeId], aggregateProcessor(store, store, fns, this.b.policy), [
      store,
    ]);
    return new Table<K, A>(this.b, id);
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
   * Aggregates per key and window into the window store `store` (changelogged). The returned table emits each
   * window's final aggregate once, when the window closes (end + grace <= stream time).
   */
  aggregate<A>(
    store: string,
    fns: WindowAggregateFns<K, V, A> & { value: AvroSchema; keyName?: string },
  ): WindowedTable<K, A> {
    this.b.addStore(store, 'window', { key: this.keySchema, value: fns.value }, this.spec, fns.keyName);
    const id = this.b.addNode(
      store,
      'window-aggregate',
      [this.nodeId],
      windowAggregateProcessor(store, store, this.spec, fns, this.b.policy),
      [store],
    );
    return new WindowedTable<K, A>(this.b, id);
  }
}
