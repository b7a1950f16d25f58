import type { KeyValue } from '../processors/stateless.js';
import { mapProcessor } from '../processors/stateless.js';
import type { WindowedValue } from '../processors/window.js';
import type { Window } from '../state/stores.js';
import type { TopologyBuilder } from './builder.js';
import { Stream } from './stream.js';

/** A table of aggregates (Kafka Streams `KTable`); `toStream` gives its updates, coalesced per commit. */
export class Table<K, A> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
  ) {}

  /** The stream of updates to this table (latest value per key per committed batch). */
  toStream(name?: string): Stream<K, A> {
    const n = name ?? this.b.autoName('to-stream');
    return new Stream<K, A>(this.b, this.b.addNode(n, 'to-stream', [this.nodeId], { process: (rs) => rs }, []));
  }
}

/** A windowed table; `toStream` gives each closed window's final aggregate, mapped to a record by `mapper`. */
export class WindowedTable<K, A> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
  ) {}

  /** Final results as windows close, mapped to a key and value. */
  toStream<K2, V2>(mapper: (key: K, window: Window, aggregate: A) => KeyValue<K2, V2>, name?: string): Stream<K2, V2> {
    const n = name ?? this.b.autoName('to-stream');
    const proc = mapProcessor<K, WindowedValue<A>, K2, V2>(
      n,
      (r) => mapper(r.key, r.value.window, r.value.aggregate),
      this.b.policy,
    );
    return new Stream<K2, V2>(this.b, this.b.addNode(n, 'to-stream', [this.nodeId], proc, []));
  }
}
