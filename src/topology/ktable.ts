/**
 * Tables beyond `Table`'s own methods: a table read from a topic (`t.table`), a re-grouped table (`GroupedTable`,
 * Kafka Streams `KGroupedTable`), table–table joins and stream–table joins. Kafka Streams 3.9 is the reference for
 * every semantic (its DSL guide's join semantics tables are reproduced in tests/topology/ktable-join.test.ts).
 */
import type { Rec } from '../processors/context.js';
import type { KeyValue } from '../processors/stateless.js';
import { sinkProcessor } from '../processors/stateless.js';
import { tableSourceProcessor } from '../processors/table.js';
import {
  changeSchema,
  reduceFns,
  type TableAggregateFns,
  tableAggregateProcessor,
  tableGroupByProcessor,
} from '../processors/table-aggregate.js';
import {
  streamTableJoinProcessor,
  type TableJoiner,
  type TableJoinKind,
  tableJoinGetter,
  tableJoinSideProcessor,
} from '../processors/table-join.js';
import type { AvroSchema } from '../schema/types.js';
import type { Schemas, TopologyBuilder } from './builder.js';
import { checkName, repartitionTopic } from './names.js';
import { Stream } from './stream.js';
import { Table } from './table.js';

/**
 * `t.table(name, topic, schemas)`: the table of the latest value per key of `topic` (Kafka Streams
 * `StreamsBuilder#table`), materialized in the key-value store `name` with its own changelog (Kafka Streams' default,
 * without the source-topic optimization). A null value deletes the key (a tombstone); a record with a null key is
 * dropped and counted.
 */
export function tableFromTopic<K, V>(
  b: TopologyBuilder,
  name: string,
  topic: string,
  schemas: Schemas & { keyName?: string },
): Table<K, V> {
  checkName('table', name);
  b.addTopic({
    name: checkName('topic', topic),
    role: 'source',
    keySchema: schemas.key,
    valueSchema: schemas.value,
    compacted: true,
  });
  const src = b.addNode(`source:${topic}`, 'source', [], undefined, [], topic);
  b.addStore(name, 'kv', schemas, undefined, schemas.keyName);
  return new Table<K, V>(b, b.addNode(name, 'table', [src], tableSourceProcessor(name, name), [name]));
}

/**
 * A table re-grouped by a new key (Kafka Streams `KGroupedTable`), read from its repartition topic. Its aggregations
 * take an adder and a subtractor: an update of a source row subtracts the old value from its old group and adds the
 * new value to its new group (subtracting first when both are one group).
 */
export class GroupedTable<K, V> {
  /** @internal */
  constructor(
    private readonly b: TopologyBuilder,
    private readonly nodeId: number,
    private readonly keySchema: AvroSchema,
  ) {}

  /**
   * Aggregates per group into the key-value store `store` (changelogged): `adder(key, value, aggregate)` for a value
   * entering the group, `subtractor(key, value, aggregate)` for one leaving it. A group emptied by subtractions keeps
   * its aggregate (as Kafka Streams does). `value` is the aggregate's Avro schema.
   */
  aggregate<A>(store: string, fns: TableAggregateFns<K, V, A> & { value: AvroSchema; keyName?: string }): Table<K, A> {
    this.b.addStore(store, 'kv', { key: this.keySchema, value: fns.value }, undefined, fns.keyName);
    const proc = tableAggregateProcessor(store, store, fns, this.b.policy);
    return new Table<K, A>(this.b, this.b.addNode(store, 'table-aggregate', [this.nodeId], proc, [store]));
  }

  /** The number of rows per group (Kafka Streams `KGroupedTable#count`), in the store `store` (Avro `long`). */
  count(store: string, opts: { keyName?: string } = {}): Table<K, number> {
    return this.aggregate<number>(store, {
      initializer: () => 0,
      adder: (_k, _v, n) => n + 1,
      subtractor: (_k, _v, n) => n - 1,
      value: 'long',
      keyName: opts.keyName,
    });
  }

  /**
   * Reduces the values per group (Kafka Streams `KGroupedTable#reduce`): a group's first value is its aggregate;
   * `adder(aggregate, value)` adds a value entering it, `subtractor(aggregate, value)` removes one leaving it.
   */
  reduce(
    store: string,
    fns: { adder: (aggregate: V, value: V) => V; subtractor: (aggregate: V, value: V) => V; value: AvroSchema },
  ): Table<K, V> {
    return this.aggregate<V>(store, { ...reduceFns<K, V>(fns.adder, fns.subtractor), value: fns.value });
  }
}

/** `Table.groupBy`: the selector node, the repartition topic (old and new value per record) and its source. */
export function groupTable<K, V, K2, V2>(
  table: Table<K, V>,
  name: string,
  selector: (key: K, value: V) => KeyValue<K2, V2>,
  schemas: Schemas,
): GroupedTable<K2, V2> {
  const { b } = table;
  const topic = repartitionTopic(b.name, b.version, checkName('groupBy name', name));
  table.requireOldValues(); // an update retracts the old value from its group
  b.addTopic({
    name: topic,
    role: 'repartition',
    keySchema: schemas.key,
    valueSchema: changeSchema(name, schemas.value),
    compacted: false,
  });
  const proc = tableGroupByProcessor(`${name}-key`, selector, b.policy);
  const keyed = b.addNode(`${name}-key`, 'table-groupBy', [table.nodeId], proc, []);
  b.addNode(`${name}-sink`, 'sink', [keyed], sinkProcessor(topic), [], topic);
  const src = b.addNode(`${name}-source`, 'source', [], undefined, [], topic);
  return new GroupedTable<K2, V2>(b, src, schemas.key);
}

/**
 * A table–table join: a node per side (`<name>-this` under the left table, `<name>-other` under the right, each
 * looking the other side up) feeding the pass-through node `<name>`, the joined table. The join kind enters the
 * fingerprint.
 */
export function tableJoin<K, L, R, VR>(
  left: Table<K, L>,
  right: Table<K, R>,
  kind: TableJoinKind,
  joiner: TableJoiner<L, R, VR>,
  name: string,
): Table<K, VR> {
  const { b } = left;
  if (right.b !== b) throw new RangeError(`join ${name}: both tables must belong to topology ${b.name}`);
  checkName('join name', name);
  for (const t of [left, right])
    if (t.unreadable !== undefined)
      throw new RangeError(`join ${name}: ${t.unreadable} cannot be joined on its key (it keeps no store)`);
  const params = { join: 'table-table', kind };
  // Each side needs its input's old values (a row that disappears), as Kafka Streams enables them for joins.
  left.requireOldValues();
  right.requireOldValues();
  const thisSide = b.addNode(
    `${name}-this`,
    'table-join',
    [left.nodeId],
    tableJoinSideProcessor<K, L, R, VR>({
      name: `${name}-this`,
      other: right.getter,
      joiner,
      thisOuter: kind !== 'inner',
      otherOuter: kind === 'outer',
      policy: b.policy,
    }),
    right.getterStores,
    undefined,
    params,
  );
  const otherSide = b.addNode(
    `${name}-other`,
    'table-join',
    [right.nodeId],
    tableJoinSideProcessor<K, R, L, VR>({
      name: `${name}-other`,
      other: left.getter,
      joiner: (r, l) => joiner(l, r),
      thisOuter: kind === 'outer',
      otherOuter: kind !== 'inner',
      policy: b.policy,
    }),
    left.getterStores,
    undefined,
    params,
  );
  const id = b.addNode(name, 'table-join', [thisSide, otherSide], { process: (rs) => rs }, []);
  const stores = [...new Set([...left.getterStores, ...right.getterStores])];
  return new Table<K, VR>(b, id, {
    getter: tableJoinGetter(left.getter, right.getter, kind, joiner),
    getterStores: stores,
    changeNodes: [thisSide, otherSide],
  });
}

/**
 * `Stream.join`/`leftJoin` with a `Table` (Kafka Streams `KStream#join(KTable)`): a lookup of the record's key in
 * the table at the record's arrival; the result keeps the stream record's timestamp. The node lists the table's
 * stores, so it runs in the task of the table's partition: stream and table must be co-partitioned (equal partition
 * counts, checked before any write).
 */
export function streamTableJoin<K, V, TV, V2>(
  stream: Stream<K, V>,
  b: TopologyBuilder,
  table: Table<K, TV>,
  kind: 'inner' | 'left',
  joiner: (value: V, tableValue: TV | null, r: Rec<K, V>) => V2,
  opts: { name?: string } = {},
): Stream<K, V2> {
  if (table.b !== b) throw new RangeError(`join: the table must belong to topology ${b.name}`);
  if (table.unreadable !== undefined)
    throw new RangeError(`join: ${table.unreadable} cannot be joined with a stream (it keeps no store)`);
  const n = opts.name ?? b.autoName('join');
  const proc = streamTableJoinProcessor<K, V, TV, V2>({ name: n, table: table.getter, joiner, kind, policy: b.policy });
  const params = { join: 'stream-table', kind };
  return new Stream<K, V2>(b, b.addNode(n, 'join', [stream.nodeId], proc, table.getterStores, undefined, params));
}
