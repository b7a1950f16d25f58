import type { Processor, Rec } from '../processors/context.js';
import { globalJoinProcessor } from '../processors/join.js';
import {
  branchArmProcessor,
  filterProcessor,
  flatMapProcessor,
  type KeyValue,
  mapProcessor,
  mapValuesProcessor,
  peekProcessor,
  repartitionSinkProcessor,
  sinkProcessor,
  validateProcessor,
} from '../processors/stateless.js';
import type { AvroSchema } from '../schema/types.js';
import type { GlobalTable, OutputTopic, Schemas, TopologyBuilder } from './builder.js';
import type { NodeKind } from './graph.js';
import { GroupedStream } from './grouped.js';
import { checkName, repartitionTopic } from './names.js';
import { buildStreamJoin, type StreamJoinOptions } from './stream-join.js';

/**
 * A typed stream of records (Kafka Streams `KStream`, Faust `Stream`). Every operator returns a new stream;
 * names are optional for stateless operators and required wherever state or an internal topic is created.
 */
export class Stream<K, V> {
  /** @internal */
  constructor(
    protected readonly b: TopologyBuilder,
    /** @internal */ readonly nodeId: number,
    /**
     * @internal True after `selectKey` (until a repartition): the key no longer decides the partition, so a later
     * `groupByKey` must repartition (Kafka Streams' `repartitionRequired`).
     */
    readonly keyChanged = false,
  ) {}

  private next<K2, V2>(
    kind: NodeKind,
    name: string | undefined,
    make: (n: string) => Processor,
    stores: string[] = [],
    keyChanged = this.keyChanged,
  ): Stream<K2, V2> {
    const n = name ?? this.b.autoName(kind);
    return new Stream<K2, V2>(this.b, this.b.addNode(n, kind, [this.nodeId], make(n), stores), keyChanged);
  }

  /** One record out per record in; the key may change (a later `groupBy`/`groupByKey` decides about repartitioning). */
  map<K2, V2>(fn: (r: Rec<K, V>) => KeyValue<K2, V2>, name?: string): Stream<K2, V2> {
    return this.next('map', name, (n) => mapProcessor(n, fn, this.b.policy));
  }

  /**
   * Sets a new key computed from each record (Kafka Streams `selectKey`); the value stays. Marks the stream as
   * key-changed: a later `groupByKey` must name a repartition topic and goes through it.
   */
  selectKey<K2>(fn: (r: Rec<K, V>) => K2, name?: string): Stream<K2, V> {
    const proc = (n: string) => mapProcessor<K, V, K2, V>(n, (r) => ({ key: fn(r), value: r.value }), this.b.policy);
    return this.next('selectKey', name, proc, [], true);
  }

  /**
   * The records of this stream and `other` in one stream (Kafka Streams `merge`): a pass-through node with two
   * parents. Within a batch, records keep their order; across the two inputs there is no order (as in Kafka
   * Streams). Key-changed if either input is.
   */
  merge(other: Stream<K, V>, name?: string): Stream<K, V> {
    const n = name ?? this.b.autoName('merge');
    const id = this.b.addNode(n, 'merge', [this.nodeId, other.nodeId], { process: (rs) => rs }, []);
    return new Stream<K, V>(this.b, id, this.keyChanged || other.keyChanged);
  }

  /**
   * Writes the stream to the repartition topic `<topology>.v<N>.<name>.repartition` and reads it back (Kafka Streams
   * `repartition(Repartitioned.as(name))`), so that each key's records meet in one task. `partitions` fixes the
   * topic's partition count (default: the partition count of the sub-topology's inputs); it enters the fingerprint
   * with the topic. A record with a null key is dropped (counted, dead-lettered). Throws `RangeError` for a bad name
   * or partition count.
   */
  repartition(opts: { name: string; partitions?: number } & Schemas): Stream<K, V> {
    if (opts.partitions !== undefined && (!Number.isInteger(opts.partitions) || opts.partitions < 1))
      throw new RangeError(`repartition "${opts.name}": partitions must be an integer >= 1, got ${opts.partitions}`);
    return new Stream<K, V>(this.b, this.through(opts.name, this.nodeId, opts, opts.partitions));
  }

  /** Adds the repartition topic `name` fed by node `from`; returns the id of the source node reading it back. */
  private through(name: string, from: number, schemas: Schemas, partitions?: number): number {
    const topic = repartitionTopic(this.b.name, this.b.version, checkName('repartition name', name));
    this.b.addTopic({
      name: topic,
      role: 'repartition',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: false,
      ...(partitions !== undefined && { partitions }),
    });
    this.b.addNode(`${name}-sink`, 'sink', [from], repartitionSinkProcessor(`${name}-sink`, topic), [], topic);
    return this.b.addNode(`${name}-source`, 'source', [], undefined, [], topic);
  }

  /** Transforms values; keeps keys. */
  mapValues<V2>(fn: (value: V, r: Rec<K, V>) => V2, name?: string): Stream<K, V2> {
    return this.next('mapValues', name, (n) => mapValuesProcessor(n, fn, this.b.policy));
  }

  /** Keeps records for which `pred` is true. */
  filter(pred: (value: V, r: Rec<K, V>) => boolean, name?: string): Stream<K, V> {
    return this.next('filter', name, (n) => filterProcessor(n, pred, this.b.policy));
  }

  /** Zero or more records per record. */
  flatMap<K2, V2>(fn: (r: Rec<K, V>) => Iterable<KeyValue<K2, V2>>, name?: string): Stream<K2, V2> {
    return this.next('flatMap', name, (n) => flatMapProcessor(n, fn, this.b.policy));
  }

  /** Calls `fn` for each record; passes records on unchanged. */
  peek(fn: (r: Rec<K, V>) => void, name?: string): Stream<K, V> {
    return this.next('peek', name, (n) => peekProcessor(n, fn, this.b.policy));
  }

  /**
   * Validates records: `check` returns undefined when a record is valid, or the reason it is not. Invalid records go
   * to the dead-letter topic `<topology>.v<N>.dlq` with the reason and their source topic/partition/offset.
   */
  validate(name: string, check: (value: V, r: Rec<K, V>) => string | undefined): Stream<K, V> {
    return this.next('validate', name, (n) => validateProcessor(n, check, this.b.policy));
  }

  /**
   * Splits the stream: each record goes to the first branch whose predicate matches; `default` (if asked for)
   * gets the rest. Returns one stream per branch name.
   */
  branch<B extends string>(
    name: string,
    predicates: Record<B, (value: V, r: Rec<K, V>) => boolean>,
    opts: { default?: boolean } = {},
  ): Record<B, Stream<K, V>> & { default?: Stream<K, V> } {
    const hub = this.next<K, V>('branch', name, () => ({ process: (rs) => rs }));
    const names = Object.keys(predicates) as B[];
    const preds = names.map((k) => predicates[k]);
    const out: Record<string, Stream<K, V>> = {};
    names.forEach((k, i) => {
      out[k] = hub.next('branch', `${name}-${k}`, (n) => branchArmProcessor(n, preds, i, this.b.policy));
    });
    if (opts.default === true)
      out.default = hub.next('branch', `${name}-default`, (n) =>
        branchArmProcessor(n, preds, preds.length, this.b.policy),
      );
    return out as Record<B, Stream<K, V>> & { default?: Stream<K, V> };
  }

  /**
   * Inner stream–stream join (Kafka Streams `KStream#join(KStream, ValueJoiner, JoinWindows)`): a record joins the
   * other stream's records of the same key within `opts.window` (see `joinWindows`); each pair gives
   * `joiner(left, right, key)`, stamped max(left, right). Both streams must be co-partitioned.
   */
  join<VR, VO>(
    other: Stream<K, VR>,
    joiner: (left: V, right: VR, key: K) => VO,
    opts: StreamJoinOptions,
  ): Stream<K, VO>;
  /**
   * Inner join with a global table: `keyOf` picks the table key, `joiner` combines. Records with no match are
   * dropped (counted), or dead-lettered with `onMissing: 'dead-letter'`.
   */
  join<TK, TV, V2>(
    table: GlobalTable<TK, TV>,
    keyOf: (r: Rec<K, V>) => TK,
    joiner: (value: V, tableValue: TV, r: Rec<K, V>) => V2,
    opts?: { name?: string; onMissing?: 'drop' | 'dead-letter' },
  ): Stream<K, V2>;
  join(other: unknown, a: unknown, b?: unknown, c?: unknown): unknown {
    if (other instanceof Stream)
      return buildStreamJoin(this.b, this, other, a as never, b as StreamJoinOptions, 'inner');
    return this.globalJoin(other as GlobalTable<unknown, unknown>, a as never, b as never, c as never);
  }

  private globalJoin<TK, TV, V2>(
    table: GlobalTable<TK, TV>,
    keyOf: (r: Rec<K, V>) => TK,
    joiner: (value: V, tableValue: TV, r: Rec<K, V>) => V2,
    opts: { name?: string; onMissing?: 'drop' | 'dead-letter' } = {},
  ): Stream<K, V2> {
    return this.next(
      'join',
      opts.name,
      (n) =>
        globalJoinProcessor<K, V, TK, TV, V2>({
          name: n,
          table: table.name,
          keyOf,
          joiner: joiner as (v: V, tv: TV | undefined, r: Rec<K, V>) => V2,
          kind: 'inner',
          onMissing: opts.onMissing ?? 'drop',
          policy: this.b.policy,
        }),
      [table.name],
    );
  }

  /**
   * Left stream–stream join: as `join`, and a left record that found no partner gives `joiner(left, null, key)`
   * once its window has closed (stream time past t + afterMs + graceMs; KIP-633: never an early null result).
   */
  leftJoin<VR, VO>(
    other: Stream<K, VR>,
    joiner: (left: V, right: VR | null, key: K) => VO,
    opts: StreamJoinOptions,
  ): Stream<K, VO>;
  /** Left join with a global table: the joiner gets `undefined` when there is no match. */
  leftJoin<TK, TV, V2>(
    table: GlobalTable<TK, TV>,
    keyOf: (r: Rec<K, V>) => TK,
    joiner: (value: V, tableValue: TV | undefined, r: Rec<K, V>) => V2,
    opts?: { name?: string },
  ): Stream<K, V2>;
  leftJoin(other: unknown, a: unknown, b?: unknown, c?: unknown): unknown {
    if (other instanceof Stream)
      return buildStreamJoin(this.b, this, other, a as never, b as StreamJoinOptions, 'left');
    return this.globalLeftJoin(other as GlobalTable<unknown, unknown>, a as never, b as never, c as never);
  }

  /**
   * Outer stream–stream join (Kafka Streams `KStream#outerJoin`): as `leftJoin`, and a right record that found no
   * partner gives `joiner(null, right, key)` once its window has closed (t + beforeMs + graceMs).
   */
  outerJoin<VR, VO>(
    other: Stream<K, VR>,
    joiner: (left: V | null, right: VR | null, key: K) => VO,
    opts: StreamJoinOptions,
  ): Stream<K, VO> {
    return buildStreamJoin(this.b, this, other, joiner, opts, 'outer');
  }

  private globalLeftJoin<TK, TV, V2>(
    table: GlobalTable<TK, TV>,
    keyOf: (r: Rec<K, V>) => TK,
    joiner: (value: V, tableValue: TV | undefined, r: Rec<K, V>) => V2,
    opts: { name?: string } = {},
  ): Stream<K, V2> {
    return this.next(
      'join',
      opts.name,
      (n) =>
        globalJoinProcessor<K, V, TK, TV, V2>({
          name: n,
          table: table.name,
          keyOf,
          joiner,
          kind: 'left',
          onMissing: 'drop',
          policy: this.b.policy,
        }),
      [table.name],
    );
  }

  /**
   * Re-keys the stream through the repartition topic `<topology>.v<N>.<name>.repartition`, so that all records of
   * one new key meet in one task (Kafka Streams `groupBy`). `schemas` types the repartition topic.
   */
  groupBy<K2>(name: string, keyOf: (r: Rec<K, V>) => K2, schemas: Schemas): GroupedStream<K2, V> {
    checkName('groupBy name', name);
    const rekeyed = this.map((r) => ({ key: keyOf(r), value: r.value }), `${name}-key`);
    return new GroupedStream<K2, V>(this.b, this.through(name, rekeyed.nodeId, schemas), schemas.key);
  }

  /**
   * Groups by the current key. Without repartitioning when the key already decides the partition; after `selectKey`
   * (a key-changed stream) through the repartition topic `<topology>.v<N>.<repartition>.repartition`, whose name and
   * value schema must then be given, as Kafka Streams repartitions there (eddy names every internal topic from
   * your names). Throws `RangeError` naming the fix when they are missing.
   */
  groupByKey(schemas: { key: AvroSchema; value?: AvroSchema; repartition?: string }): GroupedStream<K, V> {
    if (!this.keyChanged) return new GroupedStream<K, V>(this.b, this.nodeId, schemas.key);
    if (schemas.repartition === undefined || schemas.value === undefined)
      throw new RangeError(
        "groupByKey after selectKey must repartition: give it a repartition topic name and the value schema, e.g. groupByKey({ key, value, repartition: 'by-user' })",
      );
    const src = this.through(schemas.repartition, this.nodeId, { key: schemas.key, value: schemas.value });
    return new GroupedStream<K, V>(this.b, src, schemas.key);
  }

  /** Writes every record to an output topic (serialized with its schemas, partitioned by key). */
  to(topic: OutputTopic<K, V>, name?: string): void {
    const n = name ?? this.b.autoName('sink');
    this.b.addNode(n, 'sink', [this.nodeId], sinkProcessor(topic.topic), [], topic.topic);
  }
}
