import type { KeyValue } from '../processors/stateless.js';
import { mapProcessor } from '../processors/stateless.js';
import {
  storeGetter,
  type TableGetter,
  tableFilterProcessor,
  tableMapValuesProcessor,
  toStreamProcessor,
} from '../processors/table.js';
import type { TableJoiner } from '../processors/table-join.js';
import type { WindowedValue } from '../processors/window.js';
import type { Window } from '../state/stores.js';
import type { Schemas, TopologyBuilder } from './builder.js';
import { type GroupedTable, groupTable, tableJoin } from './ktable.js';
import { type ForeignKeyJoinOptions, foreignKeyJoin } from './ktable-fk.js';
import { Stream } from './stream.js';

/**
 * A table (Kafka Streams `KTable`): the latest value per key of a changelog. Made by `t.table(name, topic, schemas)`
 * (read from a compacted topic), by `GroupedStream.aggregate` and `GroupedTable.aggregate`/`count`/`reduce`, and by
 * `filter`, `mapValues` and the table–table joins. Between table nodes flow changes (`Change`: the new and the old
 * value of a key, null = absent), so every operator below also handles deletes (tombstones). A table made by
 * `filter`, `mapValues` or a join keeps no store: lookups (a join's) compute its value from its parents' stores.
 */
export class Table<K, A> {
  /** @internal How a task reads this table's current value of a key. */
  readonly getter: TableGetter<K, A>;
  /** @internal The stores `getter` reads: a node that looks this table up lists them (one sub-topology). */
  readonly getterStores: readonly string[];
  /** @internal Set when the table cannot be looked up (it keeps no store): what it is, for the error. */
  readonly unreadable?: string;
  /** @internal Nodes whose processors make this table's changes (a `sendOldValues` flag each). */
  private readonly changeNodes: readonly number[];
  /** @internal Tables whose old values this table's old values are computed from. */
  private readonly upstream: readonly Table<K, unknown>[];
  private sendsOldValues = false;

  /** @internal */
  constructor(
    /** @internal */ readonly b: TopologyBuilder,
    /** @internal */ readonly nodeId: number,
    opts: {
      getter?: TableGetter<K, A>;
      getterStores?: readonly string[];
      unreadable?: string;
      changeNodes?: readonly number[];
      upstream?: readonly Table<K, unknown>[];
    } = {},
  ) {
    // A table made by an aggregation is read from the aggregation's store.
    const own = b.nodes[nodeId].stores.filter((s) => b.stores.has(s));
    this.getterStores = opts.getterStores ?? own;
    this.unreadable = opts.unreadable;
    this.changeNodes = opts.changeNodes ?? [nodeId];
    this.upstream = opts.upstream ?? [];
    if (opts.getter !== undefined) this.getter = opts.getter;
    else if (own.length === 1) this.getter = storeGetter<K, A>(own[0]);
    else throw new Error(`table node ${b.nodes[nodeId].name} has no store to read its values from`);
  }

  /**
   * @internal Asks this table to forward old values in its changes (Kafka Streams' `enableSendingOldValues`): an
   * operator that needs them (filter, groupBy, joins) calls it on its input. Old values cost a copy or a second user
   * function call, so a table forwards them only when asked (its `toStream` never needs them).
   */
  requireOldValues(): void {
    if (this.sendsOldValues) return;
    if (this.unreadable !== undefined)
      throw new RangeError(
        `${this.unreadable} forwards no old values: filter, groupBy and joins cannot take it; use toStream or mapValues`,
      );
    this.sendsOldValues = true;
    for (const id of this.changeNodes) {
      const p = this.b.nodes[id].processor as { sendOldValues?: boolean } | undefined;
      if (p !== undefined && 'sendOldValues' in p) p.sendOldValues = true;
    }
    for (const t of this.upstream) t.requireOldValues();
  }

  /**
   * The stream of this table's changes (Kafka Streams `KTable#toStream`): each update as a record of its new value,
   * with the update's key and timestamp; a deleted key as a record with a null value (a tombstone when written to a
   * topic). On a table made by `GroupedStream.aggregate`: its updates, coalesced per committed batch.
   */
  toStream(name?: string): Stream<K, A> {
    const n = name ?? this.b.autoName('to-stream');
    return new Stream<K, A>(this.b, this.b.addNode(n, 'to-stream', [this.nodeId], toStreamProcessor(), []));
  }

  /**
   * The rows for which `pred` holds (Kafka Streams `KTable#filter`). A key whose new value fails `pred` forwards a
   * tombstone if its old value passed (it leaves the filtered table), and nothing if it never passed.
   */
  filter(pred: (value: A, key: K) => boolean, name?: string): Table<K, A> {
    const n = name ?? this.b.autoName('table-filter');
    this.requireOldValues(); // a key that leaves the filtered table is seen in its old value
    const id = this.b.addNode(n, 'table-filter', [this.nodeId], tableFilterProcessor(n, pred, this.b.policy), []);
    const parent = this.getter;
    const getter: TableGetter<K, A> = (ctx, key) => {
      const v = parent(ctx, key);
      return v !== undefined && pred(v.value, key) ? v : undefined;
    };
    return new Table<K, A>(this.b, id, { getter, getterStores: this.getterStores });
  }

  /** Maps each row's value (Kafka Streams `KTable#mapValues`); deletes stay deletes. */
  mapValues<A2>(fn: (value: A, key: K) => A2, name?: string): Table<K, A2> {
    const n = name ?? this.b.autoName('table-mapValues');
    const id = this.b.addNode(n, 'table-mapValues', [this.nodeId], tableMapValuesProcessor(n, fn, this.b.policy), []);
    const parent = this.getter;
    const getter: TableGetter<K, A2> = (ctx, key) => {
      const v = parent(ctx, key);
      return v === undefined ? undefined : { value: fn(v.value, key), timestampMs: v.timestampMs };
    };
    return new Table<K, A2>(this.b, id, { getter, getterStores: this.getterStores, upstream: [this] });
  }

  /**
   * Re-groups the table's rows by a new key through the repartition topic `<topology>.v<N>.<name>.repartition`
   * (Kafka Streams `KTable#groupBy`), ready for `aggregate`/`count`/`reduce` with an adder and a subtractor: an
   * update retracts the old row from its old group and adds the new row to its new group. `schemas` types the new
   * key and value; the repartition topic carries both the old and the new value.
   */
  groupBy<K2, V2>(
    name: string,
    selector: (key: K, value: A) => KeyValue<K2, V2>,
    schemas: Schemas,
  ): GroupedTable<K2, V2> {
    return groupTable(this, name, selector, schemas);
  }

  /**
   * Inner table–table join on the key (Kafka Streams `KTable#join`): a row exists where both sides have one. Each
   * update of either side re-emits the joined row (a tombstone when it disappears), with timestamp
   * max(left, right). Both tables must be co-partitioned. `opts.name` names the join's nodes.
   */
  join<R, VR>(other: Table<K, R>, joiner: (left: A, right: R) => VR, opts: { name: string }): Table<K, VR>;
  /**
   * Inner foreign-key join (KIP-213, Kafka Streams `KTable#join(KTable, Function, ValueJoiner)`): each row joins the
   * row of `other` whose key `foreignKey(value)` names (a null foreign key joins nothing); an update of either side
   * re-emits the joined rows, a row that loses its partner emits a tombstone. No co-partitioning needed: subscriptions
   * and responses travel through two repartition topics (see `ForeignKeyJoinOptions`).
   */
  join<KO, R, VR>(
    other: Table<KO, R>,
    foreignKey: (value: A) => KO | null | undefined,
    joiner: (left: A, right: R) => VR,
    opts: ForeignKeyJoinOptions,
  ): Table<K, VR>;
  join<KO, R, VR>(other: Table<K, R> | Table<KO, R>, a: unknown, b: unknown, c?: unknown): Table<K, VR> {
    if (typeof b === 'function')
      return foreignKeyJoin(
        this,
        other as Table<KO, R>,
        a as (value: A) => KO,
        b as (left: A, right: R | null) => VR,
        false,
        c as ForeignKeyJoinOptions,
      );
    return tableJoin(this, other as Table<K, R>, 'inner', a as TableJoiner<A, R, VR>, (b as { name: string }).name);
  }

  /** Left table–table join (Kafka Streams `KTable#leftJoin`): every left row, with null where the right has none. */
  leftJoin<R, VR>(other: Table<K, R>, joiner: (left: A, right: R | null) => VR, opts: { name: string }): Table<K, VR>;
  /** Left foreign-key join (KIP-213): every left row, joined with null where its foreign key names no row. */
  leftJoin<KO, R, VR>(
    other: Table<KO, R>,
    foreignKey: (value: A) => KO | null | undefined,
    joiner: (left: A, right: R | null) => VR,
    opts: ForeignKeyJoinOptions,
  ): Table<K, VR>;
  leftJoin<KO, R, VR>(other: Table<K, R> | Table<KO, R>, a: unknown, b: unknown, c?: unknown): Table<K, VR> {
    if (typeof b === 'function')
      return foreignKeyJoin(
        this,
        other as Table<KO, R>,
        a as (value: A) => KO,
        b as (left: A, right: R | null) => VR,
        true,
        c as ForeignKeyJoinOptions,
      );
    return tableJoin(this, other as Table<K, R>, 'left', a as TableJoiner<A, R, VR>, (b as { name: string }).name);
  }

  /** Outer table–table join (Kafka Streams `KTable#outerJoin`): rows of either side, null for the missing one. */
  outerJoin<R, VR>(
    other: Table<K, R>,
    joiner: (left: A | null, right: R | null) => VR,
    opts: { name: string },
  ): Table<K, VR> {
    return tableJoin(this, other, 'outer', joiner, opts.name);
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
