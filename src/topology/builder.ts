import { type AgentFn, agentProcessor } from '../processors/agent.js';
import { type AggregateFns, aggregateProcessor } from '../processors/aggregate.js';
import type { ErrorPolicy, Processor, Rec } from '../processors/context.js';
import { globalJoinProcessor } from '../processors/join.js';
import {
  branchArmProcessor,
  filterProcessor,
  flatMapProcessor,
  type KeyValue,
  mapProcessor,
  mapValuesProcessor,
  peekProcessor,
  sinkProcessor,
  validateProcessor,
} from '../processors/stateless.js';
import {
  type WindowAggregateFns,
  type WindowedValue,
  type WindowSpec,
  windowAggregateProcessor,
} from '../processors/window.js';
import type { AvroSchema } from '../schema/types.js';
import type { Window } from '../state/stores.js';
import {
  type GlobalTableInfo,
  type GraphNode,
  type NodeKind,
  type StoreInfo,
  splitSubtopologies,
  type TopicInfo,
  type Topology,
} from './graph.js';
import { changelogTopic, checkName, deadLetterTopic, groupId, outputTopic, repartitionTopic } from './names.js';

/** Key and value schemas of a topic or store (parsed `.avsc` JSON, or a primitive name such as `"string"`). */
export interface Schemas {
  readonly key: AvroSchema;
  readonly value: AvroSchema;
}

/**
 * Where a source's event time comes from: a field of the value (a number of ms since epoch, or an ISO-8601 string), or
 * a function of the record returning ms since epoch.
 */
export type TimestampExtractor<K, V> = string | ((r: { key: K; value: V; timestamp: number }) => number);

/** Reads event time from field `name` of a record's value: ms since epoch, or an ISO-8601 string. */
function fieldTime(name: string): (r: { value: unknown }) => number {
  return (r) => {
    const v = (r.value as Record<string, unknown> | null)?.[name];
    const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms))
      throw new Error(`event time: field "${name}" is ${JSON.stringify(v)}, not ms since epoch or an ISO-8601 time`);
    return ms;
  };
}

/** A versioned output topic handle: writes go to `<name>.v<version>`. */
export interface OutputTopic<K, V> {
  /** The full, versioned topic name. */
  readonly topic: string;
  /** Phantom types, for inference only. */
  readonly __types?: [K, V];
}

/** A global table handle (Kafka Streams `GlobalKTable`). */
export interface GlobalTable<K, V> {
  readonly name: string;
  readonly topic: string;
  readonly __types?: [K, V];
}

/** Options of a topology. */
export interface TopologyOptions {
  /** Topology name: the prefix of its consumer group and internal topics. */
  readonly name: string;
  /** Integer version >= 1. A new version replays its inputs into new `.v<N>` outputs. */
  readonly version: number;
  readonly description?: string;
  /** What to do when user code throws for a record: dead-letter it (default) or fail the task. */
  readonly onError?: ErrorPolicy;
  /**
   * A label for the code inside your functions (e.g. a git sha or `"2"`): it joins the version's fingerprint, so a
   * changed label under the same version is refused like any other change. eddy cannot hash function bodies.
   */
  readonly codeVersion?: string;
}

/**
 * Builds a topology: a named, versioned graph of typed stream processors. Offers both styles users know, compiled
 * to one graph: Kafka Streams-style operator chains (`source(...).filter(...).groupBy(...).aggregate(...)`) and
 * Faust-style agents (`agent(name, stream, async function* ...)`).
 *
 * Every store and internal topic is named explicitly by the user (never from an operator's position), so adding
 * an operator never orphans state. Names derive in one place (`names.ts`).
 */
export class TopologyBuilder {
  readonly name: string;
  readonly version: number;
  readonly policy: ErrorPolicy;
  private readonly description?: string;
  private readonly codeVersion?: string;
  /** @internal */ readonly nodes: GraphNode[] = [];
  /** @internal */ readonly topics = new Map<string, TopicInfo>();
  /** @internal */ readonly stores = new Map<string, StoreInfo>();
  /** @internal */ readonly globalTables = new Map<string, GlobalTableInfo>();
  private readonly names = new Set<string>();
  private built = false;

  constructor(opts: TopologyOptions) {
    this.name = checkName('topology name', opts.name);
    if (!Number.isInteger(opts.version) || opts.version < 1)
      throw new RangeError(`topology version must be an integer >= 1, got ${opts.version}`);
    this.version = opts.version;
    this.description = opts.description;
    this.codeVersion = opts.codeVersion;
    this.policy = opts.onError ?? 'dead-letter';
  }

  /**
   * Reads an external (unversioned) input topic as a stream. Event time is the record's timestamp unless `timestamp`
   * names a field of the value (ms since epoch, or an ISO-8601 string) or is a function of the record (Kafka Streams'
   * `TimestampExtractor`). A record whose event time cannot be read goes to the dead-letter topic.
   * Stream time, which closes windows, is the largest event time seen *per partition*: an input sorted by key rather
   * than by time makes most records of a partition late once a later key's records advanced its stream time.
   */
  source<K, V>(topic: string, schemas: Schemas & { timestamp?: TimestampExtractor<K, V> }): Stream<K, V> {
    const ts = schemas.timestamp;
    const eventTime =
      ts === undefined
        ? undefined
        : typeof ts === 'string'
          ? { description: `field:${ts}`, of: fieldTime(ts) }
          : { description: 'function', of: ts as (r: { key: unknown; value: unknown; timestamp: number }) => number };
    this.addTopic({
      name: checkName('topic', topic),
      role: 'source',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: false,
      eventTime,
    });
    const id = this.addNode(`source:${topic}`, 'source', [], undefined, [], topic);
    return new Stream<K, V>(this, id);
  }

  /**
   * A global table (Kafka Streams `GlobalKTable`): the whole compacted `topic`, bootstrapped to the end before
   * any record is processed, readable by every task; used by `join`/`leftJoin`.
   */
  globalTable<K, V>(name: string, topic: string, schemas: Schemas): GlobalTable<K, V> {
    this.claim(checkName('global table', name));
    this.addTopic({
      name: checkName('topic', topic),
      role: 'global',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: true,
    });
    this.globalTables.set(name, { name, topic, keySchema: schemas.key, valueSchema: schemas.value });
    return { name, topic };
  }

  /** Declares a versioned output topic `<name>.v<version>`. `partitions` defaults to the inputs' count. */
  output<K, V>(name: string, schemas: Schemas & { partitions?: number; compacted?: boolean }): OutputTopic<K, V> {
    const topic = outputTopic(checkName('output topic', name), this.version);
    this.addTopic({
      name: topic,
      role: 'output',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: schemas.compacted ?? false,
      partitions: schemas.partitions,
    });
    return { topic };
  }

  /**
   * A Faust-style agent over `input`, yielding records of a new stream. `stores` declares its tables (key-value
   * stores with changelogs), reachable as `ctx.table(name)`. See `AgentFn` for the per-batch semantics.
   */
  agent<K, V, K2, V2>(
    name: string,
    input: Stream<K, V>,
    fn: AgentFn<K, V, K2, V2>,
    opts: { stores?: Record<string, Schemas> } = {},
  ): Stream<K2, V2> {
    const storeNames = Object.keys(opts.stores ?? {});
    for (const [store, s] of Object.entries(opts.stores ?? {})) this.addStore(store, 'kv', s);
    const id = this.addNode(name, 'agent', [input.nodeId], agentProcessor(name, fn), storeNames);
    return new Stream<K2, V2>(this, id);
  }

  /** Finishes the graph. The builder cannot be changed afterwards. */
  build(): Topology {
    if (this.built) throw new Error(`topology ${this.name} v${this.version} was already built`);
    this.built = true;
    if (!this.nodes.some((n) => n.kind === 'source'))
      throw new RangeError(`topology ${this.name} has no source: call source(topic, schemas)`);
    const dlq = deadLetterTopic(this.name, this.version);
    this.addTopic({ name: dlq, role: 'dlq', compacted: false });
    const subtopologies = splitSubtopologies(this.nodes, (n) => n.stores.filter((s) => this.stores.has(s)));
    return {
      name: this.name,
      version: this.version,
      description: this.description,
      nodes: this.nodes,
      topics: this.topics,
      stores: this.stores,
      globalTables: this.globalTables,
      subtopologies,
      deadLetterTopic: dlq,
      groupId: groupId(this.name, this.version),
      ...(this.codeVersion === undefined ? {} : { codeVersion: this.codeVersion }),
    };
  }

  /** @internal */
  addNode(
    name: string,
    kind: NodeKind,
    parents: number[],
    processor: Processor | undefined,
    stores: readonly string[],
    topic?: string,
  ): number {
    if (this.built) throw new Error(`topology ${this.name} v${this.version} is built; it cannot change`);
    this.claim(name);
    const id = this.nodes.length;
    this.nodes.push({ id, name, kind, parents, children: [], processor, stores, topic });
    for (const p of parents) this.nodes[p].children.push(id);
    return id;
  }

  /** @internal */
  autoName(kind: string): string {
    let i = this.nodes.length;
    while (this.names.has(`${kind}-${i}`)) i++;
    return `${kind}-${i}`;
  }

  /** @internal */
  addStore(name: string, kind: 'kv' | 'window', schemas: Schemas, window?: WindowSpec, keyName = 'key'): void {
    checkName('store', name);
    if (this.stores.has(name)) throw new RangeError(`store "${name}" is declared twice in topology ${this.name}`);
    const changelog = changelogTopic(this.name, this.version, name);
    this.stores.set(name, {
      name,
      kind,
      keySchema: schemas.key,
      valueSchema: schemas.value,
      changelog,
      window,
      keyName,
    });
    this.addTopic({
      name: changelog,
      role: 'changelog',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: true,
    });
  }

  /** @internal */
  addTopic(t: TopicInfo): void {
    const had = this.topics.get(t.name);
    if (had !== undefined && had.role !== t.role)
      throw new RangeError(`topic "${t.name}" is used as both ${had.role} and ${t.role} in topology ${this.name}`);
    if (had === undefined) this.topics.set(t.name, t);
  }

  private claim(name: string): void {
    if (this.names.has(name))
      throw new RangeError(
        `name "${name}" is used twice in topology ${this.name}; every processor and store needs its own`,
      );
    this.names.add(name);
  }
}

/** Creates a topology builder. */
export function topology(opts: TopologyOptions): TopologyBuilder {
  return new TopologyBuilder(opts);
}

/**
 * A typed stream of records (Kafka Streams `KStream`, Faust `Stream`). Every operator returns a new stream;
 * names are optional for stateless operators and required wherever state or an internal topic is created.
 */
export class Stream<K, V> {
  /** @internal */
  constructor(
    protected readonly b: TopologyBuilder,
    /** @internal */ readonly nodeId: number,
  ) {}

  private next<K2, V2>(
    kind: NodeKind,
    name: string | undefined,
    make: (n: string) => Processor,
    stores: string[] = [],
  ): Stream<K2, V2> {
    const n = name ?? this.b.autoName(kind);
    return new Stream<K2, V2>(this.b, this.b.addNode(n, kind, [this.nodeId], make(n), stores));
  }

  /** One record out per record in; the key may change (a later `groupBy`/`groupByKey` decides about repartitioning). */
  map<K2, V2>(fn: (r: Rec<K, V>) => KeyValue<K2, V2>, name?: string): Stream<K2, V2> {
    return this.next('map', name, (n) => mapProcessor(n, fn, this.b.policy));
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
   * Inner join with a global table: `keyOf` picks the table key, `joiner` combines. Records with no match are
   * dropped (counted), or dead-lettered with `onMissing: 'dead-letter'`.
   */
  join<TK, TV, V2>(
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

  /** Left join with a global table: the joiner gets `undefined` when there is no match. */
  leftJoin<TK, TV, V2>(
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
    const topic = repartitionTopic(this.b.name, this.b.version, checkName('groupBy name', name));
    this.b.addTopic({
      name: topic,
      role: 'repartition',
      keySchema: schemas.key,
      valueSchema: schemas.value,
      compacted: false,
    });
    const rekeyed = this.map((r) => ({ key: keyOf(r), value: r.value }), `${name}-key`);
    this.b.addNode(`${name}-sink`, 'sink', [rekeyed.nodeId], sinkProcessor(topic), [], topic);
    const src = this.b.addNode(`${name}-source`, 'source', [], undefined, [], topic);
    return new GroupedStream<K2, V>(this.b, src, schemas.key);
  }

  /** Groups by the current key without repartitioning (the key must already decide the partition). */
  groupByKey(schemas: { key: AvroSchema }): GroupedStream<K, V> {
    return new GroupedStream<K, V>(this.b, this.nodeId, schemas.key);
  }

  /** Writes every record to an output topic (serialized with its schemas, partitioned by key). */
  to(topic: OutputTopic<K, V>, name?: string): void {
    const n = name ?? this.b.autoName('sink');
    this.b.addNode(n, 'sink', [this.nodeId], sinkProcessor(topic.topic), [], topic.topic);
  }
}

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

  /** Windows the grouped stream by event time (tumbling or hopping, with grace). */
  windowedBy(spec: WindowSpec): WindowedStream<K, V> {
    return new WindowedStream<K, V>(this.b, this.nodeId, this.keySchema, spec);
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
